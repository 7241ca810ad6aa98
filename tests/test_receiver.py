"""The receiver contract over the Flask test client, on a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from receivers import services
from receivers.store import StoredEvent
from tests.receiver_kit import (
    AUTH,
    PREVIOUS,
    SECRET,
    encode,
    integration_event,
    parcel_event,
    post_signed,
    real_keys_env,
    stored,
)

DOC_SIGNATURE = "1eed4b3d41f4653ac64fd56f1bf1cbfd349e4482cbc11dff7134bd93e5da4b0a"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return real_keys_env(f"sqlite:///{tmp_path / 'receiver.sqlite3'}")


@pytest.fixture
def app(make_app: Callable[..., Flask], env: dict[str, str]) -> Flask:
    return make_app(env)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_documented_test_vector_is_accepted_and_compact_body_refused(
    make_app: Callable[..., Flask], env: dict[str, str]
) -> None:
    client = make_app(env | {"SENDCLOUD_WEBHOOK_SECRET": "secretkey"}).test_client()
    ok = client.post(
        "/webhooks/sendcloud",
        data=b'{"key": "value"}',
        headers={"sendcloud-signature": DOC_SIGNATURE},
    )
    assert ok.status_code == 200
    refused = client.post(
        "/webhooks/sendcloud",
        data=b'{"key":"value"}',
        headers={"SENDCLOUD-SIGNATURE": DOC_SIGNATURE},
    )
    assert refused.status_code == 401
    events = stored(client)
    assert [(e["action"], e["outcome"], e["payload"]) for e in events] == [
        ("(none)", "unrecognised", {"key": "value"})
    ]


def test_signed_delivery_is_stored_before_200_and_duplicate_is_not_stored_again(
    client: FlaskClient,
) -> None:
    body = encode(parcel_event(11, 1000, 3, "En route"))
    first = post_signed(client, body)
    again = post_signed(client, body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == {"status": "duplicate"}
    events = stored(client)
    assert len(events) == 1
    assert events[0]["action"] == "parcel_status_changed"
    assert events[0]["outcome"] == "applied"
    assert events[0]["key"] == "current"
    assert events[0]["event_timestamp"] == 1000
    assert events[0]["payload"]["parcel"]["status"]["message"] == "En route"


def test_delivery_signed_with_the_previous_key_is_accepted_and_marked(
    make_app: Callable[..., Flask], env: dict[str, str]
) -> None:
    client = make_app(env | {"SENDCLOUD_WEBHOOK_SECRET_PREVIOUS": PREVIOUS}).test_client()
    assert post_signed(client, encode({"action": "test_webhook"}), key=PREVIOUS).status_code == 200
    assert [(e["action"], e["outcome"], e["key"]) for e in stored(client)] == [
        ("test_webhook", "applied", "previous")
    ]


def test_unknown_action_and_unexpected_shape_are_stored_flagged_unrecognised(
    client: FlaskClient,
) -> None:
    for payload in (
        {"action": "refund_requested", "timestamp": 5},
        {"action": "parcel_status_changed", "timestamp": 6, "parcel": {"id": "not a number"}},
        {"action": "integration_updated", "timestamp": 7.5},
    ):
        assert post_signed(client, encode(payload)).status_code == 200
    assert [(e["action"], e["outcome"]) for e in stored(client)] == [
        ("integration_updated", "unrecognised"),
        ("parcel_status_changed", "unrecognised"),
        ("refund_requested", "unrecognised"),
    ]


def test_return_created_and_test_deliveries_are_recognised(client: FlaskClient) -> None:
    payloads = [
        {"action": "return_created", "timestamp": 1, "data": {"id": 44, "order_number": "O-1"}},
        {"action": "test_webhook", "timestamp": 2},
        {"action": "bootstrap_preflight", "timestamp": 3, "attempt_id": "a-1"},
    ]
    for payload in payloads:
        assert post_signed(client, encode(payload)).status_code == 200
    assert {e["action"]: e["outcome"] for e in stored(client)} == {
        "return_created": "applied",
        "test_webhook": "applied",
        "bootstrap_preflight": "applied",
    }


def test_listeners_hear_each_new_delivery_once_and_their_failures_are_swallowed(
    app: Flask, client: FlaskClient
) -> None:
    heard: list[StoredEvent] = []

    def broken(_event: StoredEvent) -> None:
        raise RuntimeError("listener bug")

    services(app).listeners.extend([broken, heard.append])
    body = encode(parcel_event(12, 2000, 5))
    assert post_signed(client, body).status_code == 200
    assert post_signed(client, body).status_code == 200
    assert [(e.action, e.parcel_id, e.outcome, e.key) for e in heard] == [
        ("parcel_status_changed", 12, "applied", "current")
    ]
    assert heard[0].payload["parcel"]["id"] == 12
    assert heard[0].received_at.tzinfo is not None


def test_rejections_are_counted_by_cause_for_the_operator(client: FlaskClient) -> None:
    body = encode({"action": "test_webhook"})
    client.post("/webhooks/sendcloud", data=body)
    client.post("/webhooks/sendcloud", data=body, headers={"Sendcloud-Signature": "abc"})
    post_signed(client, body, key="some-other-key")
    post_signed(client, body, key="some-other-key")
    counts = client.get("/api/receiver/stats", headers=AUTH).get_json()["signature_rejections"]
    assert counts == {
        "header_missing": 1,
        "not_64_hex_characters": 1,
        "matches_no_configured_key": 2,
    }
    listing = client.get("/api/events", headers=AUTH).get_json()
    assert listing["signature_rejections"] == counts
    assert listing["events"] == []


def test_rejection_is_logged_with_its_cause_but_never_the_secret_or_body(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = encode({"action": "test_webhook", "secret_field": "customer-address"})
    post_signed(client, body, key="wrong-key")
    text = caplog.text
    assert "matches_no_configured_key" in text
    assert SECRET not in text
    assert "customer-address" not in text


def test_odd_values_in_fields_the_receiver_never_reads_keep_a_delivery_recognised(
    client: FlaskClient,
) -> None:
    parcel = parcel_event(13, 9, 3)
    parcel["parcel"] |= {"weight": {"odd": True}, "name": None, "insured_value": "n/a"}
    integration = integration_event(
        "integration_updated", 8, shop_name=42, failing_since="not a date", last_fetch=[]
    )
    for payload in (parcel, integration):
        assert post_signed(client, encode(payload)).status_code == 200
    assert [(e["action"], e["outcome"]) for e in stored(client)] == [
        ("integration_updated", "applied"),
        ("parcel_status_changed", "applied"),
    ]
