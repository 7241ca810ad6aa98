"""Fault injection: rate limit, forced 5xx, latency, and the control API that switches them."""

from __future__ import annotations

import time

import requests

from tests.sandbox_fixture import SendcloudSandbox, WebhookCatcher

T = 5


def test_101st_unsafe_request_within_a_minute_gets_429_with_an_empty_body(
    sendcloud: SendcloudSandbox,
) -> None:
    sendcloud.faults(rate_limit=True)
    auth = (sendcloud.public_key, sendcloud.secret_key)
    url = f"{sendcloud.api_url}/integrations/1"
    with requests.Session() as session:
        statuses = [
            session.patch(url, auth=auth, json={}, timeout=T).status_code for _ in range(100)
        ]
        assert statuses == [200] * 100
        limited = session.patch(url, auth=auth, json={}, timeout=T)
        assert limited.status_code == 429
        assert limited.content == b""
        assert "Content-Type" not in limited.headers
        # Safe requests have their own, larger budget.
        assert session.get(url, auth=auth, timeout=T).status_code == 200
    assert sendcloud.requests(method="PATCH")[-1].status == 429
    sendcloud.faults(rate_limit=False)
    assert requests.patch(url, auth=auth, json={}, timeout=T).status_code == 200


def test_rate_limit_is_off_by_default(sendcloud: SendcloudSandbox) -> None:
    auth = (sendcloud.public_key, sendcloud.secret_key)
    url = f"{sendcloud.api_url}/integrations/1"
    with requests.Session() as session:
        statuses = {
            session.patch(url, auth=auth, json={}, timeout=T).status_code for _ in range(101)
        }
    assert statuses == {200}


def test_forced_failures_answer_the_next_n_requests_with_a_non_json_5xx(
    sendcloud: SendcloudSandbox,
) -> None:
    sendcloud.faults(fail_next=2, fail_status=503)
    url = f"{sendcloud.api_url}/integrations/1"
    auth = (sendcloud.public_key, sendcloud.secret_key)
    first, second, third = (requests.get(url, auth=auth, timeout=T) for _ in range(3))
    for failed in (first, second):
        assert failed.status_code == 503
        assert failed.headers["Content-Type"].startswith("text/plain")
        assert failed.text.startswith("upstream connect error")
    assert third.status_code == 200
    assert [r.status for r in sendcloud.requests()] == [503, 503, 200]


def test_forced_failure_with_an_empty_body_answers_like_sendclouds_429(
    sendcloud: SendcloudSandbox,
) -> None:
    sendcloud.faults(fail_next=1, fail_status=429, fail_body="")
    url = f"{sendcloud.api_url}/integrations/1"
    auth = (sendcloud.public_key, sendcloud.secret_key)

    throttled = requests.get(url, auth=auth, timeout=T)

    assert throttled.status_code == 429
    assert throttled.content == b""
    assert "Content-Type" not in throttled.headers


def test_arming_forced_failures_again_forgets_the_previous_body_and_status(
    sendcloud: SendcloudSandbox,
) -> None:
    sendcloud.faults(fail_next=0, fail_status=429, fail_body="", fail_path="/oauth2")

    armed = sendcloud.faults(fail_next=1)

    assert (armed.fail_status, armed.fail_path) == (503, "")
    auth = (sendcloud.public_key, sendcloud.secret_key)
    failed = requests.get(f"{sendcloud.api_url}/integrations/1", auth=auth, timeout=T)
    assert failed.status_code == 503
    assert failed.text.startswith("upstream connect error")


def test_forced_failure_can_target_the_token_endpoint_only(sendcloud: SendcloudSandbox) -> None:
    sendcloud.faults(fail_next=1, fail_status=500, fail_path="/oauth2", fail_body="boom")
    auth = (sendcloud.public_key, sendcloud.secret_key)
    api = requests.get(f"{sendcloud.api_url}/integrations/1", auth=auth, timeout=T)
    assert api.status_code == 200
    data = {"grant_type": "client_credentials", "scope": "api"}
    failed = requests.post(sendcloud.token_url, auth=auth, data=data, timeout=T)
    assert (failed.status_code, failed.text) == (500, "boom")
    assert requests.post(sendcloud.token_url, auth=auth, data=data, timeout=T).status_code == 200


def test_added_latency_delays_answers(sendcloud: SendcloudSandbox) -> None:
    sendcloud.faults(latency_ms=300)
    started = time.monotonic()
    response = requests.get(
        f"{sendcloud.api_url}/integrations/1",
        auth=(sendcloud.public_key, sendcloud.secret_key),
        timeout=T,
    )
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_control_api_needs_the_sandbox_keys(sendcloud: SendcloudSandbox) -> None:
    url = f"{sendcloud.url}/_control/faults"
    assert requests.get(url, timeout=T).status_code == 401
    assert requests.get(url, auth=(sendcloud.public_key, "wrong"), timeout=T).status_code == 401


def test_control_api_switches_faults_and_refuses_unknown_ones(sendcloud: SendcloudSandbox) -> None:
    auth = (sendcloud.public_key, sendcloud.secret_key)
    url = f"{sendcloud.url}/_control/faults"
    changed = requests.post(url, auth=auth, json={"fail_next": 1, "latency_ms": 5}, timeout=T)
    assert changed.status_code == 200
    assert changed.json()["fail_next"] == 1
    assert sendcloud.faults().latency_ms == 5
    bad = requests.post(url, auth=auth, json={"explode": True, "fail_next": -1}, timeout=T)
    assert bad.status_code == 400
    message = bad.json()["error"]["message"]
    assert "unknown fault 'explode'" in message
    assert "fail_next must be a whole number" in message


def test_control_api_panel_change_trigger_and_logs(
    sendcloud: SendcloudSandbox, webhook_catcher: WebhookCatcher
) -> None:
    auth = (sendcloud.public_key, sendcloud.secret_key)
    base = f"{sendcloud.url}/_control"
    panel = requests.post(
        f"{base}/integrations/1/panel",
        auth=auth,
        json={"webhook_active": True, "webhook_url": webhook_catcher.url, "oauth2_only": True},
        timeout=T,
    )
    assert panel.status_code == 200
    assert panel.json()["oauth2_only"] is True
    assert sendcloud.oauth2_only()
    webhook_catcher.wait_for(1)
    fired = requests.post(
        f"{base}/trigger",
        auth=auth,
        json={"action": "parcel_status_changed", "parcel_id": 7, "url": "http://127.0.0.1:9/x"},
        timeout=T,
    )
    assert fired.status_code == 200
    assert fired.json()["url"] == webhook_catcher.url  # never an arbitrary URL over HTTP
    assert fired.json()["ok"] is True
    deliveries = requests.get(f"{base}/deliveries", auth=auth, timeout=T).json()
    assert [d["action"] for d in deliveries] == ["integration_updated", "parcel_status_changed"]
    assert requests.get(f"{base}/requests", auth=auth, timeout=T).json() == []
    unknown = requests.post(f"{base}/trigger", auth=auth, json={"action": "nope"}, timeout=T)
    assert unknown.status_code == 400
    assert "unknown action" in unknown.json()["error"]["message"]
    bad_panel = requests.post(
        f"{base}/integrations/1/panel", auth=auth, json={"webhook_url": None}, timeout=T
    )
    assert bad_panel.status_code == 400
