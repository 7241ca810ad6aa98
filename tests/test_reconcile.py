"""Reconciliation: lost webhooks recovered from the sandbox's parcels list over loopback HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

import receivers
from bootstrap.reconcile.reconciler import Reconciler
from bootstrap.sandbox import sandbox_of, webhooks
from bootstrap.sandbox.tables import now_ms
from bootstrap.services import services
from receivers.tables import reconcile_marks
from tests.conftest import REPO
from tests.sandbox_fixture import SendcloudSandbox

T = 5
MINUTE_MS = 60_000
EN_ROUTE = (3, "En route to sorting center")


def reconciler(app: Flask) -> Reconciler:
    found: Reconciler = services(app).reconciler
    return found


def _webhook_url(app: Flask) -> str:
    return f"{services(app).settings.public_url}/webhooks/sendcloud"


def _connect(app: Flask, sendcloud: SendcloudSandbox) -> None:
    sendcloud.set_integration(webhook_url=_webhook_url(app), webhook_active=True)


def _status(app: Flask, parcel_id: int) -> int | None:
    state = receivers.services(app).store.parcel_state(parcel_id)
    return None if state is None else state.status_id


def _reconcile(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["reconcile", *args])
    return result.exit_code, result.output


def _lose(sendcloud: SendcloudSandbox, parcel_ids: range, at_ms: int, **status: Any) -> None:
    """The parcels change at Sendcloud, and none of their webhooks arrives."""
    sendcloud.faults(drop_webhooks=len(parcel_ids))
    for pid in parcel_ids:
        options = {"parcel_id": pid, "timestamp": at_ms, "url": "http://x", **status}
        sendcloud.trigger("parcel_status_changed", **options)


def _parcel_gets(sendcloud: SendcloudSandbox) -> list[int]:
    return [r.status for r in sendcloud.requests("/api/v2/parcels", "GET")]


@pytest.mark.parametrize("api", ["v2", "v3"])
def test_reconcile_corrects_exactly_the_parcels_whose_webhook_was_dropped(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox, api: str
) -> None:
    app = product(api=api)
    _connect(app, sendcloud)
    sendcloud.configure(parcels_page_size=5)
    start = now_ms() - 10 * MINUTE_MS
    for pid in range(1, 21):
        assert sendcloud.trigger("parcel_status_changed", parcel_id=pid, timestamp=start).ok
    lost = {3, 7, 8, 14, 20}
    for pid in range(1, 21):
        sendcloud.faults(drop_webhooks=int(pid in lost))
        status_id, message = EN_ROUTE
        sendcloud.trigger(
            "parcel_status_changed",
            parcel_id=pid,
            status_id=status_id,
            status_message=message,
            timestamp=start + 5 * MINUTE_MS,
        )
    assert [pid for pid in range(1, 21) if _status(app, pid) != 3] == sorted(lost)

    code, output = _reconcile(app)

    assert (code, output) == (0, "20 parcels read, 5 states corrected\n")
    assert len(_parcel_gets(sendcloud)) == 4  # pages of 5, from API v2 whatever the integration
    assert all(_status(app, pid) == 3 for pid in range(1, 21))
    events = receivers.services(app).store.recent(limit=100)
    assert sorted(e.parcel_id or 0 for e in events if e.source == "reconciliation") == sorted(lost)
    assert {e.outcome for e in events if e.source == "reconciliation"} == {"applied"}
    token = services(app).token.value
    listed = app.test_client().get(
        "/api/events?limit=5", headers={"Authorization": f"Bearer {token}"}
    )
    assert {e["source"] for e in listed.get_json()["events"]} == {"reconciliation"}
    shown = app.test_cli_runner().invoke(args=["events", "--limit", "5"]).output
    assert shown.count("source=reconciliation") == 5
    # The second run starts where the first one ended: nothing left to correct.
    assert _reconcile(app) == (0, "0 parcels read, 0 states corrected\n")
    assert _reconcile(app, "--since", "2020-01-01") == (0, "20 parcels read, 0 states corrected\n")


def test_a_dry_run_counts_but_records_nothing(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product()
    _lose(sendcloud, range(1, 4), now_ms() - 5 * MINUTE_MS)

    assert _reconcile(app, "--dry-run") == (
        0,
        "3 parcels read, 3 states corrected (dry run: nothing recorded)\n",
    )
    assert _status(app, 1) is None
    assert _reconcile(app) == (0, "3 parcels read, 3 states corrected\n")


def _post_webhook(app: Flask, sendcloud: SendcloudSandbox, **options: Any) -> None:
    """A signed parcel_status_changed straight to the receiver (not kept by the sandbox)."""
    body = webhooks.serialise(webhooks.parcel_status_changed(**options)).encode()
    headers = {"Sendcloud-Signature": webhooks.sign(body, sendcloud.secret_key)}
    answer = requests.post(_webhook_url(app), data=body, headers=headers, timeout=T)
    assert answer.status_code == 200


def test_a_reconciled_status_never_replaces_a_newer_webhook_and_a_newer_webhook_wins(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product()
    # Sendcloud's list still shows "Ready to send", but a webhook about a change after our
    # read (its timestamp is later) says Delivered.
    _lose(sendcloud, range(1, 3), now_ms() - 5 * MINUTE_MS)
    _post_webhook(app, sendcloud, parcel_id=1, status_id=11, timestamp=now_ms() + MINUTE_MS)

    assert _reconcile(app) == (0, "2 parcels read, 1 states corrected\n")
    assert (_status(app, 1), _status(app, 2)) == (11, 1000)
    # The same path as webhooks: an older reconciled status is stored stale, not applied.
    receiver = receivers.services(app).receiver
    parcel = {"id": 1, "status": {"id": 1000, "message": "Ready to send"}}
    stale = receiver.reconciled(
        {"action": "parcel_status_changed", "timestamp": now_ms(), "parcel": parcel}
    )
    assert stale is not None
    assert (stale.outcome, stale.source, _status(app, 1)) == ("stale", "reconciliation", 11)

    # Parcel 2's reconciled status dates from one minute before the read: a webhook from
    # after that wins, a late one from before it is stale.
    _post_webhook(app, sendcloud, parcel_id=2, status_id=3, timestamp=now_ms())
    assert _status(app, 2) == 3
    _post_webhook(app, sendcloud, parcel_id=1, status_id=12, timestamp=now_ms() - 10 * MINUTE_MS)
    assert _status(app, 1) == 11


def test_429s_with_and_without_retry_after_and_a_503_mid_pagination_are_retried(
    product: Callable[..., Flask],
    sendcloud: SendcloudSandbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = product()
    sendcloud.configure(parcels_page_size=5)
    _lose(sendcloud, range(1, 21), now_ms() - 5 * MINUTE_MS)
    client = reconciler(app).client
    real_page = client.parcels_page
    # (status, body, Retry-After seconds or 0 for none) of the failure before pages 2, 3, 4.
    failures = [(429, "", 0), (429, "", 1), (503, "upstream connect error", 0)]

    def page_after_a_fault(url: str) -> Any:
        # A spy on our own client: from the second page on, Sendcloud fails once first.
        if "cursor=" in url:
            status, body, retry_after = failures.pop(0)
            sendcloud.configure(retry_after=retry_after)
            sendcloud.faults(fail_next=1, fail_status=status, fail_body=body, fail_path="/api/v2")
        return real_page(url)

    monkeypatch.setattr(client, "parcels_page", page_after_a_fault)
    with caplog.at_level("WARNING"):
        assert _reconcile(app) == (0, "20 parcels read, 20 states corrected\n")

    assert _parcel_gets(sendcloud) == [200, 429, 200, 429, 200, 503, 200]
    assert "sendcloud_retry status=429 retry_after=1.0" in caplog.text
    assert "sendcloud_retry status=429 retry_after=None" in caplog.text


def test_a_run_killed_mid_pagination_resumes_without_a_gap(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox, base_env: dict[str, str]
) -> None:
    app = product()
    sendcloud.configure(parcels_page_size=5)
    _lose(sendcloud, range(1, 31), now_ms() - 5 * MINUTE_MS)
    sendcloud.faults(latency_ms=300)
    env = {**base_env, **sendcloud.env(), "SERVICE_POINT_ENABLED": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "reconcile"], cwd=REPO, env=env
    )
    deadline = time.monotonic() + 30
    while len(_parcel_gets(sendcloud)) < 2:
        assert time.monotonic() < deadline
        assert proc.poll() is None
        time.sleep(0.02)
    proc.kill()
    proc.wait(10)
    with receivers.services(app).db.begin_read() as conn:
        resume = conn.execute(sa.select(reconcile_marks.c.resume_url)).scalar()
    assert resume is not None
    assert "cursor=" in resume
    recorded = [pid for pid in range(1, 31) if _status(app, pid) is not None]
    assert 5 <= len(recorded) < 30
    sendcloud.faults(latency_ms=0)

    code, output = _reconcile(app)

    assert code == 0, output
    assert [pid for pid in range(1, 31) if _status(app, pid) != 1000] == []
    assert _reconcile(app) == (0, "0 parcels read, 0 states corrected\n")


def test_a_refused_run_exits_1_in_plain_words(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product(SENDCLOUD_RETRY_BUDGET="0")
    sendcloud.faults(fail_next=20, fail_path="/api/v2/parcels")

    code, output = _reconcile(app)

    assert code == 1
    assert "Error: reconciliation stopped: Sendcloud is unavailable" in output
    assert _reconcile(app, "--since", "last tuesday")[0] == 1


def test_after_a_verified_onboarding_the_parcels_already_in_flight_are_backfilled(
    make_app: Callable[..., Flask],
    base_env: dict[str, str],
    live_server: Callable[..., Any],
) -> None:
    server = live_server()
    app = server.app = make_app({**base_env, "PUBLIC_URL": server.url})
    box = sandbox_of(app)
    assert box is not None
    box.faults(drop_webhooks=3)
    for pid in (101, 102, 103):  # shipped before the service was deployed
        box.trigger("parcel_status_changed", parcel_id=pid, url="http://x")
    page = f"/onboarding?token={services(app).token.value}"
    assert "Reconciliation has not run yet" in app.test_client().get(page).get_data(True)

    bootstrap = app.test_cli_runner().invoke(args=["bootstrap", "--wait", "10"])

    assert bootstrap.exit_code == 0, bootstrap.output
    reconciler(app).close()  # wait for the background backfill
    assert [_status(app, pid) for pid in (101, 102, 103)] == [1000, 1000, 1000]
    html = app.test_client().get(page, follow_redirects=True).get_data(True)
    assert "Reconciliation (backfill) last ran" in html
    assert "3 parcels read from Sendcloud, 3 states corrected" in html


def test_the_sandbox_lists_parcels_like_sendclouds_v2_parcels_list(
    sendcloud: SendcloudSandbox,
) -> None:
    sendcloud.configure(parcels_page_size=2)
    at = 1_700_000_000_000  # 14-11-2023 22:13:20 UTC
    _lose(sendcloud, range(1, 4), at)
    _lose(sendcloud, range(4, 6), at + MINUTE_MS)
    url, keys = f"{sendcloud.api_url}/parcels", (sendcloud.public_key, sendcloud.secret_key)

    first = requests.get(url, auth=keys, timeout=T).json()
    second = requests.get(first["next"], auth=keys, timeout=T).json()
    back = requests.get(second["previous"], auth=keys, timeout=T).json()
    after = {"updated_after": "2023-11-14T22:13:20+00:00"}
    later = requests.get(url, params=after, auth=keys, timeout=T)

    assert list(first) == ["next", "previous", "parcels"]
    assert first["previous"] is None
    assert [p["id"] for p in first["parcels"]] == [1, 2]
    assert first["parcels"][0]["date_updated"] == "14-11-2023 22:13:20"
    assert first["parcels"][0]["status"] == {"id": 1000, "message": "Ready to send"}
    assert [p["id"] for p in second["parcels"]] == [3, 4]
    assert [p["id"] for p in back["parcels"]] == [1, 2]
    assert [p["id"] for p in later.json()["parcels"]] == [4, 5]
    assert later.json()["next"] is None
    invalid = requests.get(url, params={"cursor": "bm9wZQ=="}, auth=keys, timeout=T)
    assert invalid.status_code == 404
    assert invalid.json()["error"]["message"] == "Invalid cursor"
    assert requests.get(url, timeout=T).status_code == 401


def test_in_sandbox_mode_a_webhook_lost_from_the_cli_is_recovered_by_reconcile(
    app: Flask,
) -> None:
    runner = app.test_cli_runner()
    options = ["--parcel-id", "7", "--status-id", "3", "--url", "http://x", "--drop"]

    lost = runner.invoke(args=["sandbox", "trigger", "parcel_status_changed", *options])

    assert lost.exit_code == 0, lost.output
    assert "dropped (not sent to http://x)" in lost.output
    assert _status(app, 7) is None
    assert _reconcile(app) == (0, "1 parcels read, 1 states corrected\n")
    assert _status(app, 7) == 3


@pytest.mark.postgres
def test_on_postgresql_reconciled_events_take_the_webhooks_one_statement_path(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox, pg_url: str
) -> None:
    app = product(DATABASE_URL=pg_url)
    _connect(app, sendcloud)
    sendcloud.configure(parcels_page_size=2)
    start = now_ms() - 10 * MINUTE_MS
    for pid in range(1, 7):
        assert sendcloud.trigger("parcel_status_changed", parcel_id=pid, timestamp=start).ok
    _lose(sendcloud, range(5, 7), start + MINUTE_MS, status_id=3)

    assert _reconcile(app) == (0, "6 parcels read, 2 states corrected\n")
    assert _reconcile(app) == (0, "0 parcels read, 0 states corrected\n")

    parcel = {"id": 5, "status": {"id": 11, "message": "Delivered"}}
    older = {"action": "parcel_status_changed", "timestamp": start, "parcel": parcel}
    stale = receivers.services(app).receiver.reconciled(older)
    assert stale is not None
    assert (stale.outcome, _status(app, 5)) == ("stale", 3)
