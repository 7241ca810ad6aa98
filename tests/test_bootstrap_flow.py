"""The headless bootstrap end to end: the product on a loopback port, the sandbox as Sendcloud."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from bootstrap.services import services
from tests.sandbox_fixture import SendcloudSandbox

OWNED = {"webhook_url", "webhook_active", "service_point_enabled", "service_point_carriers"}
HEX64 = re.compile(r"\b[0-9a-fA-F]{64}\b")


def latest_state(app: Flask, refresh_live: bool = False) -> str | None:
    """The state of the newest attempt, re-evaluated."""
    latest = services(app).watcher.latest(refresh_live)
    return latest.state if latest else None


def bootstrap_cli(app: Flask, *args: str) -> Any:
    """Run `flask bootstrap ARGS` in-process; returns the click result."""
    return app.test_cli_runner().invoke(args=["bootstrap", *args])


def test_bootstrap_fetches_one_token_patches_owned_fields_reads_back_and_is_verified(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product()
    result = bootstrap_cli(app, "--wait", "10")

    assert result.exit_code == 0, result.output
    # Without the parcels list, which the reconciliation after the round trip reads.
    calls = [r for r in sendcloud.requests() if r.path != "/api/v2/parcels"]
    seen = [(r.method, r.path) for r in calls]
    assert seen == [
        ("POST", "/oauth2/token"),
        # The carriers are checked against what Sendcloud offers before anything changes.
        ("GET", "/servicepoints/api/v2/carriers"),
        ("GET", "/api/v2/integrations/1"),
        ("PATCH", "/api/v2/integrations/1"),
        ("GET", "/api/v2/integrations/1"),
    ]
    token, carriers, _, patch, read_back = calls
    assert carriers.auth == "bearer"
    assert token.auth == "basic"
    assert token.client_id == sendcloud.public_key
    assert token.form == {"grant_type": "client_credentials", "scope": "api"}
    assert patch.auth == "bearer"
    assert read_back.auth == "bearer"
    assert set(patch.body) == OWNED
    assert patch.body["webhook_url"] == f"{services(app).settings.public_url}/webhooks/sendcloud"
    assert patch.body["webhook_active"] is True
    assert sorted(patch.body["service_point_carriers"]) == ["dhl", "ups"]
    assert not sendcloud.requests(method="PUT")
    latest = services(app).watcher.latest()
    assert latest is not None
    assert latest.state == "verified"
    assert latest.verified_at is not None
    assert [s.status for s in latest.steps] == ["done"] * 6
    assert "Verified" in result.output


def test_second_run_with_matching_settings_sends_no_patch_and_exits_0(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product()
    assert bootstrap_cli(app, "--wait", "10").exit_code == 0
    patches_before = len(sendcloud.requests(method="PATCH"))

    again = bootstrap_cli(app, "--wait", "10")

    assert again.exit_code == 0, again.output
    assert len(sendcloud.requests(method="PATCH")) == patches_before == 1
    assert "already configured" in again.output
    assert latest_state(app) == "verified"


def test_dry_run_prints_the_planned_change_and_sends_no_patch(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product()
    result = bootstrap_cli(app, "--dry-run")

    assert result.exit_code == 0, result.output
    assert "dry run" in result.output
    assert "webhook_url: '' -> 'http://127.0.0.1:" in result.output
    assert "service_point_enabled: False -> True" in result.output
    assert not sendcloud.requests(method="PATCH")
    assert not sendcloud.requests(method="PUT")


def test_undo_restores_the_settings_recorded_before_the_change(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    sendcloud.set_integration(
        webhook_url="https://old.example.com/hook",
        webhook_active=False,
        service_point_enabled=True,
        service_point_carriers=["postnl"],
    )
    before = {k: v for k, v in (sendcloud.integration() or {}).items() if k in OWNED}
    app = product()
    assert bootstrap_cli(app, "--wait", "10").exit_code == 0
    assert (sendcloud.integration() or {})["webhook_url"] != before["webhook_url"]

    result = bootstrap_cli(app, "--undo")

    assert result.exit_code == 0, result.output
    after = {k: v for k, v in (sendcloud.integration() or {}).items() if k in OWNED}
    assert after == before
    patches = sendcloud.requests(method="PATCH")
    assert len(patches) == 2
    assert set(patches[1].body) <= OWNED


def test_a_sandbox_429_with_an_empty_body_is_retried_and_the_bootstrap_verifies(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product()
    sendcloud.faults(fail_next=1, fail_status=429, fail_body="", fail_path="/api/")

    result = bootstrap_cli(app, "--wait", "10")

    assert result.exit_code == 0, result.output
    seen = [(r.method, r.status) for r in sendcloud.requests("/api/v2/integrations")]
    assert seen == [("GET", 429), ("GET", 200), ("PATCH", 200), ("GET", 200)]
    assert latest_state(app) == "verified"


def test_no_webhook_in_time_exits_3_with_what_to_do(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    sendcloud.faults(drop_webhooks=5)
    app = product()

    result = bootstrap_cli(app, "--wait", "0.5")

    assert result.exit_code == 3, result.output
    assert "Test API Webhook" in result.output
    assert len(sendcloud.requests(method="PATCH")) == 1
    assert latest_state(app) == "timed_out"


def test_a_late_test_webhook_turns_a_timed_out_attempt_into_verified(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    sendcloud.faults(drop_webhooks=1)
    app = product()
    assert bootstrap_cli(app, "--wait", "0.3").exit_code == 3

    sendcloud.trigger("test_webhook")

    deadline = time.monotonic() + 5
    while latest_state(app) != "verified" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert latest_state(app) == "verified"


def test_check_reports_drift_field_by_field_and_exits_4(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product()
    assert bootstrap_cli(app, "--check").exit_code == 4
    assert bootstrap_cli(app, "--wait", "10").exit_code == 0
    assert bootstrap_cli(app, "--check").exit_code == 0

    sendcloud.set_integration(webhook_url="https://elsewhere.example.com/hook")
    result = bootstrap_cli(app, "--check")

    assert result.exit_code == 4, result.output
    assert "webhook_url: live 'https://elsewhere.example.com/hook'" in result.output
    assert latest_state(app) == "drifted"


def test_panel_change_reaching_the_receiver_marks_the_attempt_drifted_at_once(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    app = product()
    assert bootstrap_cli(app, "--wait", "10").exit_code == 0
    deliveries = len(sendcloud.deliveries())

    # Still pointing at us, but service points switched off: the webhook reports it.
    sendcloud.panel_update(service_point_enabled=False)
    sendcloud.wait_for_deliveries(deliveries + 1)

    attempts = services(app).bootstrapper.attempts
    deadline = time.monotonic() + 5
    while (found := attempts.latest(1)) and found.state != "drifted":
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # Read straight from the table: the listener itself must have set it, no re-evaluation.
    latest = attempts.latest(1)
    assert latest is not None
    assert latest.state == "drifted"
    assert any(
        r.levelno == logging.WARNING and "integration_drifted" in r.getMessage()
        for r in caplog.records
    )


def test_latest_with_refresh_live_notices_a_silent_change(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    app = product()
    assert bootstrap_cli(app, "--wait", "10").exit_code == 0

    sendcloud.set_integration(webhook_active=False)

    assert latest_state(app) == "verified"
    assert latest_state(app, refresh_live=True) == "drifted"


def test_no_secret_reaches_output_or_logs(
    product: Callable[..., Flask], sendcloud: SendcloudSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = product()
    outputs = [
        bootstrap_cli(app, "--wait", "10").output,
        bootstrap_cli(app, "--dry-run").output,
        bootstrap_cli(app, "--check").output,
        bootstrap_cli(app, "--undo").output,
    ]
    wrong = product(SENDCLOUD_SECRET_KEY="wrong-" + sendcloud.secret_key)
    outputs.append(bootstrap_cli(wrong, "--wait", "1").output)
    attempt = services(app).watcher.latest()
    assert attempt is not None
    outputs.append(repr(attempt.to_json()))

    text = "\n".join(outputs) + "\n".join(r.getMessage() for r in caplog.records)
    assert "Verified" in text  # the capture did capture the run
    for secret in (sendcloud.secret_key, sendcloud.public_key, "ory_at_", "Bearer ", "Basic "):
        assert secret not in text
    assert not HEX64.search(text), "something that looks like a signature leaked"
