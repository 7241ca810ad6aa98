"""The relay, end to end over loopback: signed deliveries, retries, order, redirects, isolation."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

import receivers
from bootstrap.sandbox import sandbox_of
from receivers.relay import relay_of
from receivers.relay.tables import relay_destinations
from tests.receiver_kit import encode, parcel_event, post_signed, real_keys_env
from tests.relay_kit import (
    Consumer,
    add_destination,
    auth,
    consumers,
    deliveries,
    wait_until,
)

__all__ = ["consumers"]  # the fixture, used by name


@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    """Real-keys mode, loopback destinations allowed, the retry schedule compressed 10,000x
    (5 s -> 0.5 ms, 10 h -> 3.6 s), the relay running in this process."""
    env = real_keys_env(
        f"sqlite:///{tmp_path / 'relay.sqlite3'}",
        RELAY_ALLOW_PRIVATE="true",
        RELAY_RETRY_SCALE="0.0001",
    )
    made = make_app(env)
    yield made
    relay_of(made).stop()


def _run(app: Flask) -> None:
    relay_of(app).start()


def test_sandbox_events_arrive_verified_with_the_payload_unchanged(
    make_app: Callable[..., Flask], base_env: dict[str, str], consumers: Callable[..., Consumer]
) -> None:
    app = make_app(base_env)  # sandbox mode: loopback destinations are allowed
    consumer = consumers()
    secret = add_destination(app, consumer.url, description="order system")["secret"]
    assert secret.startswith("whsec_")
    box = sandbox_of(app)
    assert box is not None
    assert box.local_url is not None
    box.panel_update(
        notify=False, webhook_active=True, webhook_url=f"{box.local_url}/webhooks/sendcloud"
    )
    runner = app.test_cli_runner()
    for action in ("parcel_status_changed", "integration_updated", "return_created"):
        result = runner.invoke(args=["sandbox", "trigger", action])
        assert "HTTP 200" in result.output, result.output
    relay_of(app).start()
    try:
        received = consumer.wait_for(3)
    finally:
        relay_of(app).stop()
    stored = {e.action: e for e in receivers.services(app).store.recent(10)}
    # Different parcels (or none) go out in parallel: any order.
    assert sorted(d.verified(secret)["type"] for d in received) == [
        "integration_updated",
        "parcel_status_changed",
        "return_created",
    ]
    for delivery in received:
        envelope = delivery.verified(secret)
        raw = receivers.services(app).store.raw_body(stored[envelope["type"]].id)
        assert raw is not None
        assert envelope["data"] == json.loads(raw[0])
        assert datetime.fromisoformat(envelope["timestamp"]).tzinfo is not None
        with pytest.raises(Exception, match="signature"):
            delivery.verified("whsec_" + "A" * 43)


def test_a_destination_answering_500_three_times_gets_the_event_with_one_webhook_id(
    app: Flask, consumers: Callable[..., Consumer]
) -> None:
    consumer = consumers()
    consumer.statuses = [500, 500, 500]
    dest = add_destination(app, consumer.url)
    post_signed(app.test_client(), encode(parcel_event(1, 1000, 11)))
    _run(app)
    received = consumer.wait_for(4)
    assert len({d.webhook_id for d in received}) == 1
    for d in received:
        d.verified(dest["secret"])
    [delivery] = wait_until(
        lambda: [x for x in deliveries(app, dest["id"]) if x["state"] == "delivered"]
    )
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 500, 200]
    assert "consumer says 500" in delivery["attempts"][0]["error"]
    assert delivery["webhook_id"] == received[0].webhook_id


def test_a_dead_destination_ends_failed_and_a_manual_retry_delivers(
    app: Flask, consumers: Callable[..., Consumer]
) -> None:
    consumer = consumers(default=503)
    dest = add_destination(app, consumer.url)
    post_signed(app.test_client(), encode(parcel_event(2, 1000, 11)))
    _run(app)
    [failed] = wait_until(
        lambda: [x for x in deliveries(app, dest["id"]) if x["state"] == "failed"], timeout=30
    )
    assert len(failed["attempts"]) == 8  # immediately, then the 7 delays of the schedule
    consumer.default = 200
    retried = app.test_client().post(f"/api/deliveries/{failed['id']}/retry", headers=auth(app))
    assert retried.status_code == 200
    assert retried.get_json()["state"] == "delivered"
    assert consumer.received[-1].webhook_id == failed["webhook_id"]


def test_redirects_are_not_followed(app: Flask, consumers: Callable[..., Consumer]) -> None:
    consumer, elsewhere = consumers(default=302), consumers()
    consumer.location = elsewhere.url
    dest = add_destination(app, consumer.url)
    post_signed(app.test_client(), encode(parcel_event(3, 1000, 11)))
    _run(app)
    consumer.wait_for(2)
    [delivery] = deliveries(app, dest["id"])
    assert delivery["state"] in ("retrying", "pending")
    assert delivery["attempts"][0]["status_code"] == 302
    assert elsewhere.received == []


def test_a_parcels_events_arrive_in_order_even_when_the_first_is_retried(
    app: Flask, consumers: Callable[..., Consumer]
) -> None:
    consumer = consumers()
    consumer.fail_text, consumer.failures_left = b'"timestamp": 1000, "carrier', 2
    add_destination(app, consumer.url)
    client = app.test_client()
    post_signed(client, encode(parcel_event(10, 1000, 1)))
    post_signed(client, encode(parcel_event(10, 2000, 2)))
    post_signed(client, encode(parcel_event(11, 1001, 1)))
    post_signed(client, encode(parcel_event(10, 3000, 3)))
    _run(app)
    consumer.wait_for(6)
    seen = [(e["data"]["parcel"]["id"], e["data"]["timestamp"]) for e in consumer.envelopes()]
    assert [t for p, t in seen if p == 10] == [1000, 1000, 1000, 2000, 3000]
    # Parcel 11 does not wait for parcel 10's retries.
    assert seen.index((11, 1001)) < seen.index((10, 2000))


def test_a_slow_destination_does_not_delay_another(
    app: Flask, consumers: Callable[..., Consumer]
) -> None:
    slow, fast = consumers(delay=4.0), consumers()
    add_destination(app, slow.url)
    add_destination(app, fast.url)
    _run(app)
    client = app.test_client()
    for n in range(3):
        post_signed(client, encode(parcel_event(20 + n, 1000, 1)))
        sent = time.time()
        fast.wait_for(n + 1, timeout=3)
        assert fast.received[n].at - sent < 1.5
    assert len(slow.received) <= 1


def test_rotation_signs_with_both_secrets_for_24_hours(
    app: Flask, consumers: Callable[..., Consumer]
) -> None:
    consumer = consumers()
    old = add_destination(app, consumer.url)
    rotated = app.test_client().patch(
        f"/api/destinations/{old['id']}", json={"rotate": True}, headers=auth(app)
    )
    new_secret = rotated.get_json()["secret"]
    assert new_secret != old["secret"]
    post_signed(app.test_client(), encode(parcel_event(4, 1000, 11)))
    _run(app)
    [delivery] = consumer.wait_for(1)
    delivery.verified(old["secret"])
    delivery.verified(new_secret)
    assert delivery.headers["webhook-signature"].count("v1,") == 2


def test_a_destination_failing_everything_for_5_days_is_disabled_and_says_why(
    app: Flask, consumers: Callable[..., Consumer], caplog: pytest.LogCaptureFixture
) -> None:
    consumer = consumers(default=500)
    dest = add_destination(app, consumer.url)
    long_ago = datetime.now(UTC) - timedelta(days=6)
    with receivers.services(app).db.begin_write() as conn:
        conn.execute(relay_destinations.update().values(failing_since=long_ago))
    post_signed(app.test_client(), encode(parcel_event(5, 1000, 11)))
    _run(app)
    listed = wait_until(
        lambda: [
            d
            for d in app.test_client()
            .get("/api/destinations", headers=auth(app))
            .get_json()["destinations"]
            if not d["enabled"]
        ]
    )
    assert listed[0]["id"] == dest["id"]
    assert "every delivery failed since" in listed[0]["disabled_reason"]
    assert "relay_destination_disabled" in caplog.text
