"""Operator API and CLI over the stored deliveries: listing, filtering, replay."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from tests.receiver_kit import AUTH, encode, parcel_event, post_signed, real_keys_env, stored


@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    return make_app(real_keys_env(f"sqlite:///{tmp_path / 'api.sqlite3'}"))


def test_events_are_listed_newest_first_with_limit_and_action_filter(app: Flask) -> None:
    client = app.test_client()
    for n in range(3):
        post_signed(client, encode(parcel_event(20 + n, 100 + n, 1)))
    post_signed(client, encode({"action": "test_webhook", "timestamp": 9}))
    everything = stored(client)
    assert [e["action"] for e in everything] == ["test_webhook"] + ["parcel_status_changed"] * 3
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    assert set(everything[0]) >= {
        "id",
        "action",
        "received_at",
        "event_timestamp",
        "outcome",
        "key",
        "payload",
    }
    assert [e["parcel_id"] for e in stored(client, limit=2, action="parcel_status_changed")] == [
        22,
        21,
    ]
    assert [e["action"] for e in stored(client, action="test_webhook")] == ["test_webhook"]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "501"])
def test_a_bad_limit_is_a_plain_400(app: Flask, limit: str) -> None:
    response = app.test_client().get("/api/events", headers=AUTH, query_string={"limit": limit})
    assert response.status_code == 400
    assert "limit" in response.get_json()["error"]


def test_replay_is_idempotent_and_keeps_the_newest_state(app: Flask) -> None:
    client = app.test_client()
    post_signed(client, encode(parcel_event(30, 2000, 11, "Delivered")))
    post_signed(client, encode(parcel_event(30, 1000, 1, "Ready")))
    newest, older = sorted(stored(client), key=lambda e: -e["event_timestamp"])
    for _ in range(2):
        replayed = client.post(f"/api/events/{older['id']}/replay", headers=AUTH)
        assert replayed.status_code == 200
        assert replayed.get_json()["event"]["outcome"] == "stale"
        again = client.post(f"/api/events/{newest['id']}/replay", headers=AUTH)
        assert again.get_json()["event"]["outcome"] == "applied"
    assert client.get("/api/parcels/30", headers=AUTH).get_json()["status"]["id"] == 11
    assert len(stored(client)) == 2


def test_replay_of_a_missing_event_is_404(app: Flask) -> None:
    response = app.test_client().post("/api/events/12345/replay", headers=AUTH)
    assert response.status_code == 404
    assert "12345" in response.get_json()["error"]


def test_replay_needs_the_operator_token(app: Flask) -> None:
    assert app.test_client().post("/api/events/1/replay").status_code == 401


def test_events_command_lists_deliveries_newest_first_with_outcome(app: Flask) -> None:
    client = app.test_client()
    post_signed(client, encode(parcel_event(40, 2000, 11)))
    post_signed(client, encode(parcel_event(40, 1000, 1)))
    client.post("/webhooks/sendcloud", data=b"{}")
    result = app.test_cli_runner().invoke(args=["events"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "parcel_status_changed" in lines[0]
    assert "stale" in lines[0]
    assert "parcel_status_changed" in lines[1]
    assert "applied" in lines[1]
    assert "parcel=40" in lines[0]
    assert "header_missing=1" in lines[-1]


def test_events_command_says_when_nothing_is_stored(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["events"])
    assert result.exit_code == 0
    assert "no deliveries stored yet" in result.output
