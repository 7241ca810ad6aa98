"""The relay's rules as tables: which events a destination gets, which URLs it may use,
retention, the pull feed, and the operator surfaces' answers to bad input."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

import receivers
from receivers.errors import ConfigurationError
from receivers.relay import Relay, RelaySettings, load_relay_settings, relay_of
from receivers.relay.deliveries import Deliveries
from receivers.relay.destinations import Destination, Destinations, url_problem
from receivers.signature import sign
from tests.conftest import LiveServer
from tests.receiver_kit import AUTH, SECRET, encode, parcel_event, post_signed, real_keys_env
from tests.relay_kit import Consumer, add_destination, consumers, deliveries, wait_until

__all__ = ["consumers"]

ALL, PARCELS = None, ("parcel_status_changed",)


def _dest(
    actions: tuple[str, ...] | None, stale: bool = False, unrecognised: bool = False
) -> Destination:
    now = datetime.now(UTC)
    return Destination(
        1,
        "https://x",
        "",
        actions,
        stale,
        unrecognised,
        True,
        None,
        "whsec_x",
        None,
        None,
        0,
        None,
        now,
    )


@pytest.mark.parametrize(
    ("actions", "stale", "unrecognised", "action", "outcome", "wanted"),
    [
        (ALL, False, False, "parcel_status_changed", "applied", True),
        (ALL, False, False, "integration_updated", "applied", True),
        (ALL, False, False, "parcel_status_changed", "stale", False),
        (ALL, True, False, "parcel_status_changed", "stale", True),
        (ALL, False, False, "integration_credentials", "unrecognised", False),
        (ALL, False, True, "integration_credentials", "unrecognised", True),
        (PARCELS, False, False, "parcel_status_changed", "applied", True),
        (PARCELS, False, False, "return_created", "applied", False),
        (PARCELS, True, False, "parcel_status_changed", "stale", True),
        (PARCELS, False, True, "integration_credentials", "unrecognised", False),
        (
            ("integration_credentials",),
            False,
            True,
            "integration_credentials",
            "unrecognised",
            True,
        ),
    ],
)
def test_action_filters_and_the_stale_and_unrecognised_rules(
    actions: tuple[str, ...] | None,
    stale: bool,
    unrecognised: bool,
    action: str,
    outcome: str,
    wanted: bool,
) -> None:
    assert _dest(actions, stale, unrecognised).wants(action, outcome) is wanted


SANDBOX = RelaySettings(sandbox=True)
PRODUCTION = RelaySettings()
PRIVATE_OK = RelaySettings(allow_private=True)


@pytest.mark.parametrize(
    ("url", "settings", "problem"),
    [
        ("http://127.0.0.1:8000/hook", SANDBOX, None),
        ("http://localhost:8000/hook", PRIVATE_OK, None),
        ("http://127.0.0.1:8000/hook", PRODUCTION, "loopback"),
        ("https://10.0.0.5/hook", PRODUCTION, "private"),
        ("https://10.0.0.5/hook", SANDBOX, "private"),
        ("https://10.0.0.5/hook", PRIVATE_OK, None),
        ("https://169.254.169.254/latest/meta-data", PRODUCTION, "link-local"),
        ("https://192.168.1.10/hook", PRODUCTION, "private"),
        ("https://[::1]/hook", PRODUCTION, "loopback"),
        ("http://93.184.215.14/hook", PRODUCTION, "plain http"),
        ("https://93.184.215.14/hook", PRODUCTION, None),
        ("ftp://example.com/x", PRODUCTION, "https://"),
        ("https://user:pw@93.184.215.14/hook", PRODUCTION, "credentials"),
        ("https://:99999/x", PRODUCTION, "not a valid URL"),
        ("https://no-such-host.invalid/hook", PRODUCTION, "cannot be resolved"),
    ],
)
def test_destination_urls_are_checked(
    url: str, settings: RelaySettings, problem: str | None
) -> None:
    found = url_problem(url, settings)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_relay_settings_list_every_problem() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_relay_settings(
            {"EVENT_RETENTION_DAYS": "0", "RELAY_RETRY_SCALE": "x", "RELAY_ALLOW_PRIVATE": "yes"}
        )
    assert len(caught.value.problems) == 3
    settings = load_relay_settings({"RELAY_RETRY_SCALE": "0.5"})
    assert [settings.delay(n) for n in (0, 1, 7, 8)] == [0, 2.5, 18000, None]


@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    env = real_keys_env(f"sqlite:///{tmp_path / 'r.sqlite3'}", RELAY_ALLOW_PRIVATE="true")
    return make_app(env)


def test_retention_prunes_delivered_events_keeps_undelivered_ones_and_parcel_state(
    app: Flask, consumers: Callable[..., Consumer]
) -> None:
    up, down = consumers(), consumers(default=500)
    up_dest = add_destination(app, up.url)
    client = app.test_client()
    post_signed(client, encode(parcel_event(1, 1000, 11, "Delivered")))
    relay = relay_of(app)
    relay.start()
    wait_until(lambda: [d for d in deliveries(app, up_dest["id"]) if d["state"] == "delivered"])
    down_dest = add_destination(app, down.url)
    post_signed(client, encode(parcel_event(2, 1000, 11)))
    wait_until(lambda: deliveries(app, down_dest["id"]))
    relay.stop()
    later = datetime.now(UTC) + timedelta(days=31)
    assert relay.deliveries.prune(later) == 1  # parcel 1: everyone has it; parcel 2 is pending
    remaining = [e.parcel_id for e in receivers.services(app).store.recent(10)]
    assert remaining == [2]
    assert client.get("/api/parcels/1", headers=AUTH).get_json()["status"]["id"] == 11
    assert relay.deliveries.prune(datetime.now(UTC)) == 0  # not old enough
    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0
    assert "pruned 0 event(s) older than 30 day(s)" in result.output


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_pull_feed_gives_each_event_once_in_order_while_events_arrive(
    make_app: Callable[..., Flask],
    tmp_path: Path,
    database: str,
    request: pytest.FixtureRequest,
    live_server: Callable[..., LiveServer],
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'feed.sqlite3'}"
        if database == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    app = make_app(real_keys_env(url))
    server = live_server(app)
    total = 500

    def write() -> None:
        with requests.Session() as session:
            for n in range(total):
                body = encode(parcel_event(n, 1000 + n, 1))

                session.post(
                    f"{server.url}/webhooks/sendcloud",
                    data=body,
                    timeout=10,
                    headers={"Sendcloud-Signature": sign(body, SECRET)},
                )

    writer = threading.Thread(target=write)
    writer.start()
    seen: list[int] = []
    after = 0
    deadline = time.monotonic() + 60
    with requests.Session() as session:
        while len(seen) < total and time.monotonic() < deadline:
            page = session.get(
                f"{server.url}/api/events",
                params={"after": after, "limit": 37},
                headers=AUTH,
                timeout=10,
            ).json()
            seen += [e["parcel_id"] for e in page["events"]]
            assert page["next_after"] >= after
            after = page["next_after"]
    writer.join()
    assert seen == list(range(total))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "url is required"),
        ({"url": 5}, "url must be a str"),
        ({"url": "https://93.184.215.14/x", "actions": "all"}, "actions must be a list"),
        ({"url": "https://93.184.215.14/x", "colour": "red"}, "unknown field"),
        ({"url": "https://u:p@93.184.215.14/x"}, "credentials"),
        ([], "JSON object"),
    ],
)
def test_bad_destination_input_is_a_plain_400(app: Flask, body: Any, problem: str) -> None:
    response = app.test_client().post("/api/destinations", json=body, headers=AUTH)
    assert response.status_code == 400
    assert problem in response.get_json()["error"]


def test_the_relay_api_needs_the_token_and_names_what_is_missing(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/destinations").status_code == 401
    assert client.get("/api/destinations/9/deliveries", headers=AUTH).status_code == 404
    assert client.post("/api/deliveries/9/retry", headers=AUTH).status_code == 404
    assert client.delete("/api/destinations/9", headers=AUTH).status_code == 404


def test_destinations_commands_add_list_test_remove(
    app: Flask, consumers: Callable[..., Consumer]
) -> None:
    consumer = consumers()
    runner = app.test_cli_runner()
    added = runner.invoke(
        args=["destinations", "add", consumer.url, "--actions", "parcel_status_changed"]
    )
    assert added.exit_code == 0, added.output
    secret = added.output.split("signing secret (shown once): ")[1].strip()
    assert "actions=parcel_status_changed" in runner.invoke(args=["destinations", "list"]).output
    tested = runner.invoke(args=["destinations", "test", "1"])
    assert tested.exit_code == 0, tested.output
    assert "delivered (status 200" in tested.output
    envelope = consumer.received[0].verified(secret)
    assert envelope["type"] == "test_webhook"
    consumer.default = 500
    assert runner.invoke(args=["destinations", "test", "1"]).exit_code == 1
    assert runner.invoke(args=["destinations", "remove", "1"]).exit_code == 0
    assert "no destinations yet" in runner.invoke(args=["destinations", "list"]).output
    refused = runner.invoke(args=["destinations", "add", "https://user:pw@example.com/x"])
    assert refused.exit_code != 0
    assert "credentials" in refused.output


def test_addresses_are_checked_again_at_send_time(
    app: Flask, consumers: Callable[..., Consumer]
) -> None:
    consumer = consumers()
    dest = add_destination(app, consumer.url)  # allowed now: RELAY_ALLOW_PRIVATE=true
    post_signed(app.test_client(), encode(parcel_event(1, 1000, 11)))
    db = receivers.services(app).db
    strict = RelaySettings()  # as if the setting had been removed since
    relay = Relay(Destinations(db, strict), Deliveries(db, strict))
    relay.start()
    try:
        [delivery] = wait_until(lambda: [d for d in deliveries(app, dest["id"]) if d["attempts"]])
    finally:
        relay.stop()
    assert "loopback" in delivery["attempts"][0]["error"]
    assert consumer.received == []
