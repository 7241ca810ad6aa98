"""The relay together with reconciliation and with keys stored on the onboarding page."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from flask import Flask

import receivers
from bootstrap.sandbox.tables import now_ms
from bootstrap.services import services
from receivers.relay import relay_of
from tests.conftest import REPO, fresh_env, random_secret
from tests.receiver_kit import encode, parcel_event, post_signed
from tests.relay_kit import Consumer, add_destination, consumers, wait_until
from tests.sandbox_fixture import SendcloudSandbox
from tests.test_stored_keys import urls

__all__ = ["consumers"]  # the fixture, used by name

MINUTE_MS = 60_000
TOKEN = "operator-token-" + "y" * 20


def test_reconciled_events_reach_a_destination_verified_and_marked_as_reconciled(
    product: Callable[..., Flask],
    sendcloud: SendcloudSandbox,
    consumers: Callable[..., Consumer],
) -> None:
    app = product(RELAY_ALLOW_PRIVATE="true", RELAY_RETRY_SCALE="0.001")
    webhook_url = f"{services(app).settings.public_url}/webhooks/sendcloud"
    sendcloud.set_integration(webhook_url=webhook_url, webhook_active=True)
    consumer = consumers()
    secret = add_destination(app, consumer.url)["secret"]
    before = now_ms() - 5 * MINUTE_MS
    # Parcel 1's webhook arrives; parcel 2's is dropped by Sendcloud.
    assert sendcloud.trigger("parcel_status_changed", parcel_id=1, timestamp=before).ok
    sendcloud.faults(drop_webhooks=1)
    sendcloud.trigger(
        "parcel_status_changed",
        parcel_id=2,
        status_id=3,
        status_message="En route to sorting center",
        timestamp=before,
    )
    assert receivers.services(app).store.parcel_state(2) is None

    reconciled = app.test_cli_runner().invoke(args=["reconcile"])

    assert (reconciled.exit_code, reconciled.output) == (0, "2 parcels read, 1 states corrected\n")
    relay_of(app).start()
    try:
        received = consumer.wait_for(2)
    finally:
        relay_of(app).stop()
    assert len(received) == 2
    by_parcel = {e["data"]["parcel"]["id"]: e for e in (d.verified(secret) for d in received)}
    keys = (sendcloud.public_key, sendcloud.secret_key)
    listed = requests.get(f"{sendcloud.api_url}/parcels", auth=keys, timeout=5).json()["parcels"]
    [parcel_2] = [p for p in listed if p["id"] == 2]
    assert by_parcel[2]["source"] == "reconciliation"
    assert by_parcel[2]["type"] == "parcel_status_changed"
    assert by_parcel[2]["data"]["parcel"] == parcel_2  # as Sendcloud's parcel list shows it
    assert by_parcel[2]["data"]["parcel"]["status"]["id"] == 3
    assert "source" not in by_parcel[1]  # a signed webhook's event carries no mark
    assert by_parcel[1]["data"]["parcel"]["status"]["id"] == 1000


@pytest.mark.slow  # a `flask --app app relay` subprocess
@pytest.mark.parametrize("relay_first", [False, True], ids=["keys_then_relay", "relay_then_keys"])
def test_a_relay_process_forwards_webhooks_signed_with_keys_stored_on_the_page(
    make_app: Callable[..., Flask],
    tmp_path: Path,
    sendcloud: SendcloudSandbox,
    consumers: Callable[..., Consumer],
    relay_first: bool,
) -> None:
    """relay_then_keys is a fresh deploy: the worker starts before the owner enters the keys."""
    # No SENDCLOUD_* keys: only where the stand-in Sendcloud is, to check the keys against.
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
        "SECRET_KEY": random_secret(),
        "ONBOARDING_TOKEN": TOKEN,
        "PUBLIC_URL": "http://127.0.0.1:9",
        "RELAY_ALLOW_PRIVATE": "true",
        "RELAY_RETRY_SCALE": "0.001",
        **urls(sendcloud),
    }
    app = make_app(env)
    assert services(app).settings.sandbox
    # The relay needs not even the stand-in's URLs: nothing SENDCLOUD_* at all.
    relay_env = fresh_env(**{k: v for k, v in env.items() if not k.startswith("SENDCLOUD_")})
    log_path = tmp_path / "relay.log"
    with log_path.open("wb") as log, contextlib.ExitStack() as stack:

        def start_relay() -> None:
            relay = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "relay"],
                cwd=REPO,
                env=relay_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(relay.wait, 15)
            stack.callback(relay.terminate)
            wait_until(lambda: "relay_started" in log_path.read_text())

        if relay_first:
            start_relay()
        keys = {"public_key": sendcloud.public_key, "secret_key": sendcloud.secret_key}
        stored = app.test_client().put(
            "/api/credentials",
            json={**keys, "integration_id": 1},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert stored.status_code == 200, stored.get_json()
        restarted = make_app(env)  # the web process, restarted or not, uses the stored keys
        assert not services(restarted).settings.sandbox
        consumer = consumers()
        secret = add_destination(restarted, consumer.url)["secret"]
        body = encode(parcel_event(41, now_ms(), 11, "Delivered"))
        client = restarted.test_client()
        assert post_signed(client, body, "not-the-stored-secret").status_code == 401
        assert post_signed(client, body, sendcloud.secret_key).status_code == 200
        if not relay_first:
            start_relay()
        [delivered] = wait_until(lambda: consumer.received)
    output = log_path.read_text()
    envelope = delivered.verified(secret)
    assert envelope["type"] == "parcel_status_changed"
    assert envelope["data"]["parcel"]["id"] == 41
    assert "source" not in envelope
    # Started after the keys were stored, it runs with them, not as a sandbox of its own;
    # started before (a fresh deploy's worker), it forwards all the same.
    assert ("sandbox_started" in output) == relay_first, output
    assert sendcloud.secret_key not in output
    assert sendcloud.public_key not in output
