"""Every real Sendcloud body in tests/corpus/webhooks through the real endpoint and store."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from receivers import services
from receivers.tables import webhook_events
from tests.receiver_kit import AUTH, post_signed, real_keys_env, stored
from tests.sandbox_calls import CORPUS

WEBHOOKS = CORPUS / "webhooks"
CREDENTIALS = "integration_credentials__oca-delivery-sendcloud-oca-test-fixture.json"
LIVE = "parcel_status_changed__megastore-live-capture-2024-04-03.json"

# What each body must do to the newest parcel state: (parcel id, timestamp, carrier timestamp,
# status id, status message, tracking number).
PARCELS = {
    LIVE: (364069982, 1712163088943, 1712163088908, 1001, "Being announced", ""),
    "parcel_status_changed__sendcloud-dev-docs.json": (
        *(1, 123, 123, 1, "Ready to send", "3SYZXG132912330"),
    ),
    "parcel_status_changed__oca-delivery-sendcloud-oca-test-fixture.json": (
        *(3, 1719299439635, None, 0, "Ready to send", None),
    ),
    "parcel_status_changed__webador-sendcloud-test-fixture.json": (
        *(3, 1525271885993, None, 0, "Ready to send", "S0M3TR4Ck1NgNumB3r"),
    ),
}
# ... and to the newest integration state: (id, deleted, webhook URL, webhook active,
# service points on, carriers). The OCA fixture's `false` URL and "" are both "none".
_DOCS = ("https://www.sendcloud.com/sendcloud-webhooks", True, True, ("<string>",))
_OCA = (None, False, False, ())
INTEGRATIONS = {
    "integration_connected__sendcloud-dev-v2-docs.json": (1, False, *_DOCS),
    "integration_connected__sendcloud-dev-v3-integration-modified-docs-zless-dates.json": (
        *(1, False, *_DOCS),
    ),
    "integration_updated__sendcloud-dev-v2-docs.json": (1, False, *_DOCS),
    "integration_deleted__sendcloud-dev-v3-docs.json": (1, True, *_DOCS),
    "integration_connected__oca-delivery-sendcloud-oca-test-fixture.json": (241526, False, *_OCA),
    "integration_updated__oca-delivery-sendcloud-oca-test-fixture.json": (241526, False, *_OCA),
    "integration_deleted__oca-delivery-sendcloud-oca-test-fixture.json": (241526, True, *_OCA),
}
NOTHING_TO_APPLY = {"return_created__sendcloud-dev-docs.json", CREDENTIALS}

INTEGRATION_DOCS = {
    "updated": "integration_updated__sendcloud-dev-v2-docs.json",
    "deleted": "integration_deleted__sendcloud-dev-v3-docs.json",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(request: pytest.FixtureRequest, make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'corpus.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    return make_app(real_keys_env(url))


def _body(name: str) -> bytes:
    # Signed as the file's bytes are (tests/corpus/README.md).
    return (WEBHOOKS / name).read_bytes()


def _deliver(client: FlaskClient, body: bytes) -> None:
    response = post_signed(client, body)
    assert (response.status_code, response.get_json()) == (200, {"status": "stored"})


def _parcel_row(client: FlaskClient, parcel_id: int) -> tuple[Any, ...]:
    found = client.get(f"/api/parcels/{parcel_id}", headers=AUTH).get_json()
    return (
        found["parcel_id"],
        found["timestamp"],
        found["carrier_status_change_timestamp"],
        found["status"]["id"],
        found["status"]["message"],
        found["tracking_number"],
    )


def _integration_row(app: Flask, integration_id: int) -> tuple[Any, ...]:
    state = services(app).store.latest_integration_state(integration_id)
    assert state is not None
    return (
        state.integration_id,
        state.deleted,
        state.webhook_url,
        state.webhook_active,
        state.service_point_enabled,
        state.service_point_carriers,
    )


def test_the_corpus_is_covered_by_this_test() -> None:
    known = set(PARCELS) | set(INTEGRATIONS) | NOTHING_TO_APPLY
    assert {p.name for p in WEBHOOKS.glob("*.json")} == known


@pytest.mark.parametrize("name", sorted(PARCELS))
def test_every_real_parcel_update_is_applied(app: Flask, name: str) -> None:
    client = app.test_client()
    _deliver(client, _body(name))
    [event] = stored(client)
    assert (event["action"], event["outcome"]) == ("parcel_status_changed", "applied")
    assert _parcel_row(client, PARCELS[name][0]) == PARCELS[name]


@pytest.mark.parametrize("name", sorted(INTEGRATIONS))
def test_every_real_integration_event_is_applied(app: Flask, name: str) -> None:
    client = app.test_client()
    _deliver(client, _body(name))
    [event] = stored(client)
    assert (event["action"], event["outcome"]) == (name.split("__")[0], "applied")
    assert event["integration_id"] == INTEGRATIONS[name][0]
    assert _integration_row(app, INTEGRATIONS[name][0]) == INTEGRATIONS[name]


@pytest.mark.parametrize("name", sorted(NOTHING_TO_APPLY))
def test_returns_and_new_keys_are_recognised_with_nothing_to_apply(app: Flask, name: str) -> None:
    client = app.test_client()
    _deliver(client, _body(name))
    [event] = stored(client)
    assert (event["action"], event["outcome"]) == (name.split("__")[0], "applied")


@pytest.mark.parametrize(
    "order",
    [
        *itertools.permutations(("connected", "updated", "deleted")),
        ("updated", "deleted"),
        ("deleted", "updated"),
    ],
)
def test_a_deletion_wins_its_tie_with_an_update_whatever_the_order(
    app: Flask, order: tuple[str, ...]
) -> None:
    client = app.test_client()
    for kind in order:  # the OCA fixtures: one integration, one timestamp
        _deliver(client, _body(f"integration_{kind}__oca-delivery-sendcloud-oca-test-fixture.json"))
    if len(order) == 2:  # Sendcloud's docs: the update (v2 page) and deletion (v3 page) tie too
        for kind in order:
            _deliver(client, _body(INTEGRATION_DOCS[kind]))
    for integration_id in (241526, 1) if len(order) == 2 else (241526,):
        state = services(app).store.latest_integration_state(integration_id)
        assert state is not None
        assert (state.deleted, state.action) == (True, "integration_deleted")
    outcomes = {(e["action"], e["outcome"]) for e in stored(client)}
    assert ("integration_deleted", "applied") in outcomes
    assert ("integration_deleted", "stale") not in outcomes
    # Whatever came after the deletion lost to it.
    after = order[order.index("deleted") + 1 :]
    assert {("integration_" + kind, "stale") for kind in after} <= outcomes


def _with(name: str, **changes: Any) -> bytes:
    """A corpus body with top-level or parcel fields replaced (Sendcloud's own serialisation)."""
    payload = json.loads(_body(name))
    for key, value in changes.items():
        target = payload["parcel"] if key.startswith("parcel_") else payload
        target[key.removeprefix("parcel_")] = value
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("timestamp", "carrier_timestamp"),
    [
        (1712163088943.0, 1712163088908.0),
        ("1712163088943", "1712163088908"),
    ],
)
def test_timestamps_as_integral_floats_or_digit_strings_are_milliseconds(
    app: Flask, timestamp: Any, carrier_timestamp: Any
) -> None:
    client = app.test_client()
    body = _with(LIVE, timestamp=timestamp, carrier_status_change_timestamp=carrier_timestamp)
    _deliver(client, body)
    assert _parcel_row(client, 364069982) == PARCELS[LIVE]
    assert stored(client)[0]["outcome"] == "applied"


@pytest.mark.parametrize(
    "timestamp", [1712163088943.5, "2024-04-03T16:51:28Z", "17121630889e3", True, None, [1]]
)
def test_any_other_timestamp_makes_only_that_event_unrecognised(app: Flask, timestamp: Any) -> None:
    client = app.test_client()
    _deliver(client, _with(LIVE, timestamp=timestamp))
    _deliver(client, _body("parcel_status_changed__webador-sendcloud-test-fixture.json"))
    events = stored(client)
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("parcel_status_changed", "applied"),
        ("parcel_status_changed", "unrecognised"),
    ]
    assert client.get("/api/parcels/364069982", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    "odd",
    [
        {"parcel_tracking_number": False},
        {"parcel_tracking_number": 12345},
        {"parcel_date_created": "2024-04-03T16:51:28Z"},
        {"parcel_shop_url": False, "parcel_label": "not an object"},
    ],
)
def test_odd_values_in_fields_the_service_does_not_use_keep_the_update(
    app: Flask, odd: dict[str, Any]
) -> None:
    client = app.test_client()
    _deliver(client, _with(LIVE, **odd))
    assert stored(client)[0]["outcome"] == "applied"
    assert _parcel_row(client, 364069982)[:5] == PARCELS[LIVE][:5]


def _new_keys_with(secret: str) -> bytes:
    """The OCA fixture's bytes with a recognisable secret in place of its "test"."""
    body = _body(CREDENTIALS)
    assert body.count(b'"secret_key": "test"') == 1
    return body.replace(b'"secret_key": "test"', f'"secret_key": "{secret}"'.encode())


def test_new_api_keys_never_show_their_secret(
    app: Flask, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sk-corpus-" + hashlib.sha256(b"never shown").hexdigest()[:24]
    client = app.test_client()
    original = _body(CREDENTIALS)
    for body in (original, _new_keys_with(secret)):
        _deliver(client, body)
    # A retry of the same bytes is still a duplicate: the hash is of what Sendcloud sent.
    assert post_signed(client, original).get_json() == {"status": "duplicate"}

    events = stored(client, action="integration_credentials")
    assert [(e["outcome"], e["integration_id"]) for e in events] == [("applied", 241526)] * 2
    assert {e["payload"]["secret_key"] for e in events} == {"[redacted]"}
    assert {e["payload"]["public_key"] for e in events} == {"test"}
    api = client.get("/api/events", headers=AUTH).get_data(as_text=True)
    replayed = client.post(f"/api/events/{events[0]['id']}/replay", headers=AUTH)
    assert replayed.get_json()["event"]["outcome"] == "applied"
    cli = app.test_cli_runner().invoke(args=["events"])
    assert cli.exit_code == 0
    assert "integration_credentials" in cli.output

    with services(app).db.begin_read() as conn:
        rows = conn.execute(sa.select(webhook_events.c.body, webhook_events.c.event_hash)).all()
    assert {row.event_hash for row in rows} == {
        hashlib.sha256(body).hexdigest() for body in (original, _new_keys_with(secret))
    }
    database = b"".join(bytes(row.body) for row in rows)
    # The SQLite file and its WAL hold no copy either.
    database += b"".join(p.read_bytes() for p in tmp_path.glob("corpus.sqlite3*"))
    logs = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert "integration_credentials_received" in caplog.text
    for shown in (api, replayed.get_data(as_text=True), cli.output, logs):
        assert secret not in shown
        assert '"secret_key": "test"' not in shown
    assert secret.encode() not in database
    assert b'"secret_key": "test"' not in database
