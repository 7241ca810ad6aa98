"""Zero-config mode: the sandbox mounted at /sandbox, its loopback twin, the CLI, and real keys."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import requests
from flask import Flask

import receivers
from bootstrap.sandbox import sandbox_of
from receivers.db import Database
from tests.conftest import fresh_env, random_secret, run_flask
from tests.sandbox_fixture import SendcloudSandbox, WebhookCatcher

T = 5


def _keys(app: Flask) -> tuple[str, str]:
    db: Database = receivers.services(app).db
    return (
        db.stored_value("sandbox_public_key", lambda: "unexpected"),
        db.stored_value("sandbox_secret_key", lambda: "unexpected"),
    )


def _twin(app: Flask) -> str:
    box = sandbox_of(app)
    assert box is not None
    assert box.local_url is not None
    return box.local_url


def test_fresh_start_seeds_the_sandbox_integration_and_serves_it_on_the_twin(
    app: Flask,
) -> None:
    twin = _twin(app)
    public, secret = _keys(app)
    assert public.startswith("sandbox-")
    token = requests.post(
        f"{twin}/sandbox/oauth2/token",
        auth=(public, secret),
        data={"grant_type": "client_credentials", "scope": "api"},
        timeout=T,
    )
    assert token.status_code == 200
    headers = {"Authorization": "Bearer " + token.json()["access_token"]}
    found = requests.get(f"{twin}/sandbox/api/v2/integrations/1", headers=headers, timeout=T)
    assert found.status_code == 200
    assert found.json()["shop_name"] == "Sandbox Shop"
    assert found.json()["webhook_url"] == ""
    assert found.json()["webhook_active"] is False


def test_sandbox_is_mounted_under_sandbox_on_the_app_itself(app: Flask) -> None:
    public, secret = _keys(app)
    client = app.test_client()
    response = client.get("/sandbox/api/v2/integrations/1", auth=(public, secret))
    assert response.status_code == 200
    refused = client.get("/sandbox/api/v2/integrations/1", auth=(public, "wrong"))
    assert refused.status_code == 401
    assert refused.get_json()["error"]["request"] == "api/v2/integrations/1"


def test_with_real_keys_the_sandbox_routes_answer_404(
    make_app: Callable[..., Flask], base_env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    app = make_app({**base_env, **sendcloud.env(), "SERVICE_POINT_CARRIERS": "ups"})
    assert sandbox_of(app) is None
    client = app.test_client()
    auth = (sendcloud.public_key, sendcloud.secret_key)
    assert client.get("/sandbox/api/v2/integrations/1", auth=auth).status_code == 404
    assert client.get("/sandbox/api/v2/integrations", auth=auth).status_code == 404
    token = client.post("/sandbox/oauth2/token", auth=auth, data={"grant_type": "x"})
    assert token.status_code == 404
    assert client.post("/sandbox/_control/faults", auth=auth, json={}).status_code == 404
    result = app.test_cli_runner().invoke(args=["sandbox", "trigger", "test_webhook"])
    assert result.exit_code != 0
    assert "only available in sandbox mode" in result.output


def test_two_workers_on_one_database_share_keys_and_integration(
    make_app: Callable[..., Flask], base_env: dict[str, str]
) -> None:
    first, second = make_app(base_env), make_app(base_env)
    assert _keys(first) == _keys(second)
    auth = _keys(first)
    changed = requests.patch(
        f"{_twin(first)}/sandbox/api/v2/integrations/1",
        auth=auth,
        json={"shop_url": "https://shop.example"},
        timeout=T,
    )
    assert changed.status_code == 200
    seen = requests.get(f"{_twin(second)}/sandbox/api/v2/integrations/1", auth=auth, timeout=T)
    assert seen.json()["shop_url"] == "https://shop.example"


def test_cli_trigger_delivers_a_signed_parcel_update_the_receiver_accepts(app: Flask) -> None:
    box = sandbox_of(app)
    assert box is not None
    box.panel_update(
        notify=False, webhook_active=True, webhook_url=f"{_twin(app)}/webhooks/sendcloud"
    )
    since = datetime.now(UTC)
    result = app.test_cli_runner().invoke(
        args=[
            "sandbox",
            "trigger",
            "parcel_status_changed",
            "--parcel-id",
            "5",
            "--status-id",
            "11",
            "--status-message",
            "Delivered",
            "--timestamp",
            "1700000000000",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "HTTP 200" in result.output
    [event] = receivers.services(app).store.events_received_since(since)
    assert (event.action, event.parcel_id, event.event_timestamp) == (
        "parcel_status_changed",
        5,
        1700000000000,
    )
    assert event.payload["parcel"]["name"] == "Zoë Müller"


def test_cli_trigger_to_a_url_prints_the_outcome(
    app: Flask, webhook_catcher: WebhookCatcher
) -> None:
    webhook_catcher.statuses = [500]
    runner = app.test_cli_runner()
    failed = runner.invoke(
        args=["sandbox", "trigger", "test_webhook", "--url", webhook_catcher.url]
    )
    assert failed.exit_code == 1
    assert "HTTP 500" in failed.output
    assert "retry" in failed.output
    done = runner.invoke(
        args=["sandbox", "trigger", "return_created", "--url", webhook_catcher.url]
    )
    assert done.exit_code == 0, done.output
    payloads = [json.loads(h.body)["action"] for h in webhook_catcher.received]
    assert payloads[:2] == ["test_webhook", "return_created"]


def test_cli_trigger_without_a_webhook_url_says_what_to_do(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["sandbox", "trigger", "integration_updated"])
    assert result.exit_code == 1
    assert "no webhook URL yet" in result.output
    assert "Traceback" not in result.output
    wrong = app.test_cli_runner().invoke(
        args=["sandbox", "trigger", "return_created", "--parcel-id", "3", "--url", "http://x"]
    )
    assert wrong.exit_code != 0
    assert "only apply to parcel_status_changed" in wrong.output


def test_bad_sandbox_knobs_stop_the_start_with_a_plain_message(
    make_app: Callable[..., Flask], base_env: dict[str, str]
) -> None:
    try:
        make_app({**base_env, "SANDBOX_TOKEN_LIFETIME": "soon", "SANDBOX_RETRY_SCALE": "7"})
    except SystemExit as exc:
        message = str(exc)
    else:
        raise AssertionError("the app started with bad sandbox settings")
    assert "SANDBOX_TOKEN_LIFETIME" in message
    assert "SANDBOX_RETRY_SCALE" in message


def test_new_api_keys_show_on_the_page_with_what_to_do_and_never_their_secret(
    make_app: Callable[..., Flask], base_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = random_secret()
    app = make_app({**base_env, "ONBOARDING_TOKEN": token})
    box = sandbox_of(app)
    assert box is not None
    box.panel_update(
        notify=False, webhook_active=True, webhook_url=f"{_twin(app)}/webhooks/sendcloud"
    )
    public, secret = _keys(app)
    sent = app.test_cli_runner().invoke(args=["sandbox", "trigger", "integration_credentials"])
    assert sent.exit_code == 0, sent.output

    client = app.test_client()
    page = client.get("/onboarding", query_string={"token": token}).get_data(as_text=True)
    api = client.get("/api/events", headers={"Authorization": f"Bearer {token}"})
    listed = run_flask(fresh_env(**base_env), "events")

    assert 'id="new-keys"' in page
    assert public in page
    for advice in ("SENDCLOUD_SECRET_KEY", "SENDCLOUD_WEBHOOK_SECRET_PREVIOUS"):
        assert advice in page
    [event] = api.get_json()["events"]
    assert (event["action"], event["outcome"]) == ("integration_credentials", "applied")
    assert event["payload"]["secret_key"] == "[redacted]"
    assert "integration_credentials  applied" in listed.stdout
    assert "integration_credentials_received" in caplog.text
    logs = caplog.text + " ".join(str(r.args) for r in caplog.records)
    for shown in (page, api.get_data(as_text=True), listed.stdout + listed.stderr, logs):
        assert secret not in shown
