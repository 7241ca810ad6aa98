"""Per-parcel and per-integration ordering: newest wins, ties are deterministic, stale is kept."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from receivers import services
from tests.receiver_kit import (
    AUTH,
    encode,
    integration_event,
    parcel_event,
    post_signed,
    real_keys_env,
    stored,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(request: pytest.FixtureRequest, make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'order.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    return make_app(real_keys_env(url))


def _deliver(client: FlaskClient, *payloads: dict[str, Any]) -> None:
    for payload in payloads:
        assert post_signed(client, encode(payload)).status_code == 200


def _parcel(client: FlaskClient, parcel_id: int) -> dict[str, Any]:
    response = client.get(f"/api/parcels/{parcel_id}", headers=AUTH)
    assert response.status_code == 200
    found: dict[str, Any] = response.get_json()
    return found


def test_out_of_order_delivery_keeps_the_newest_status_and_flags_the_older_stale(
    app: Flask,
) -> None:
    client = app.test_client()
    _deliver(
        client,
        parcel_event(1, 3000, 11, "Delivered", tracking="TRK-1"),
        parcel_event(1, 1000, 1, "Ready to send", tracking="TRK-1"),
    )
    state = _parcel(client, 1)
    assert state["status"] == {"id": 11, "message": "Delivered"}
    assert state["tracking_number"] == "TRK-1"
    assert state["timestamp"] == 3000
    assert [(e["event_timestamp"], e["outcome"]) for e in stored(client)] == [
        (1000, "stale"),
        (3000, "applied"),
    ]


def test_newer_delivery_replaces_the_status(app: Flask) -> None:
    client = app.test_client()
    _deliver(client, parcel_event(2, 1000, 1, "Ready"), parcel_event(2, 2000, 3, "En route"))
    assert _parcel(client, 2)["status"] == {"id": 3, "message": "En route"}
    assert {e["outcome"] for e in stored(client)} == {"applied"}


@pytest.mark.parametrize("reverse", [False, True])
def test_equal_timestamps_resolve_the_same_way_whatever_the_arrival_order(
    app: Flask, reverse: bool
) -> None:
    client = app.test_client()
    # Same timestamp: the later carrier timestamp wins, then the higher status id.
    events = [
        parcel_event(3, 5000, 12, "Awaiting pickup", carrier_ts=400),
        parcel_event(3, 5000, 11, "Delivered", carrier_ts=500),
        parcel_event(3, 5000, 3, "En route", carrier_ts=500),
    ]
    _deliver(client, *(reversed(events) if reverse else events))
    assert _parcel(client, 3)["status"] == {"id": 11, "message": "Delivered"}
    # An outcome says what happened on arrival: whatever came after the winner is stale.
    outcomes = {e["payload"]["parcel"]["status"]["id"]: e["outcome"] for e in stored(client)}
    assert outcomes[11] == "applied"
    assert outcomes == (
        {11: "applied", 12: "stale", 3: "applied"}
        if reverse
        else {11: "applied", 12: "applied", 3: "stale"}
    )


@pytest.mark.parametrize("reverse", [False, True])
def test_fully_tied_events_are_decided_by_hash_independent_of_order(
    app: Flask, reverse: bool
) -> None:
    client = app.test_client()
    first = parcel_event(4, 7000, 5, "same", tracking="A")
    second = parcel_event(4, 7000, 5, "same", tracking="B")
    _deliver(client, *((second, first) if reverse else (first, second)))
    winner = max(
        (first, second),
        key=lambda p: hashlib.sha256(encode(p)).hexdigest(),
    )
    assert _parcel(client, 4)["tracking_number"] == winner["parcel"]["tracking_number"]


def test_unknown_parcel_is_404(app: Flask) -> None:
    response = app.test_client().get("/api/parcels/999", headers=AUTH)
    assert response.status_code == 404
    assert "999" in response.get_json()["error"]


def test_newest_integration_state_is_kept_for_drift_detection(app: Flask) -> None:
    client = app.test_client()
    _deliver(
        client,
        integration_event(
            "integration_updated",
            2000,
            webhook_url="https://new.example.com/webhooks/sendcloud",
            service_point_carriers=["ups", "dhl"],
        ),
        integration_event("integration_connected", 1000, webhook_url="https://old.example.com"),
    )
    state = services(app).store.latest_integration_state(7)
    assert state is not None
    assert state.action == "integration_updated"
    assert state.webhook_url == "https://new.example.com/webhooks/sendcloud"
    assert state.service_point_carriers == ("ups", "dhl")
    assert state.webhook_active is True
    assert state.deleted is False
    newest = [e for e in stored(client) if e["event_timestamp"] == 2000]
    assert state.event_id == newest[0]["id"]
    assert services(app).store.latest_integration_state(8) is None

    _deliver(client, integration_event("integration_deleted", 3000))
    deleted = services(app).store.latest_integration_state(7)
    assert deleted is not None
    assert deleted.deleted
    assert deleted.event_timestamp == 3000
