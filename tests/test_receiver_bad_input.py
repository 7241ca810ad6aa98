"""Table-driven bad input: right status, nothing unsigned stored, no traceback, no 5xx."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask

from receivers.signature import sign
from tests.receiver_kit import AUTH, SECRET, real_keys_env, stored

LIMIT = 4096


@dataclass(frozen=True)
class Case:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    signed: bool = True  # sign the body correctly with the current key
    status: int = 200
    stored_as: str | None = "unrecognised"  # outcome of the stored row, None = nothing stored


CASES = {
    "empty body": Case(b""),
    "not json": Case(b"this is not json"),
    "json array": Case(b'[{"action": "parcel_status_changed"}]'),
    "invalid utf-8": Case(b'{"action": "\xff\xfe"}'),
    "deeply nested json": Case(b"[" * 1500 + b"]" * 1500),
    "form content type": Case(
        b'{"action": "test_webhook"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        stored_as="applied",
    ),
    "unicode payload": Case(
        '{"action": "test_webhook", "note": "caf\u00e9 \u2028 \U0001f4e6"}'.encode(),
        stored_as="applied",
    ),
    "nul character in a stored text field": Case(
        b'{"action": "parcel_status_changed", "timestamp": 1, "parcel": {"id": 9, '
        b'"tracking_number": "A\\u0000B", "status": {"id": 1, "message": "x"}}}',
        stored_as="applied",
    ),
    "lone surrogate in a stored text field": Case(
        b'{"action": "parcel_status_changed", "timestamp": 1, "parcel": {"id": 9, '
        b'"tracking_number": "A\\ud800B", "status": {"id": 1, "message": "x"}}}',
        stored_as="applied",
    ),
    "huge number": Case(b'{"action": "parcel_status_changed", "timestamp": 1e400}'),
    "oversize": Case(b"x" * (LIMIT + 1), status=413, stored_as=None),
    "unsigned": Case(b'{"action": "test_webhook"}', signed=False, status=401, stored_as=None),
    "signature not hex": Case(
        b'{"action": "test_webhook"}',
        headers={"Sendcloud-Signature": "z" * 64},
        signed=False,
        status=401,
        stored_as=None,
    ),
    "signature too short": Case(
        b'{"action": "test_webhook"}',
        headers={"Sendcloud-Signature": "ab" * 16},
        signed=False,
        status=401,
        stored_as=None,
    ),
    "signature with a prefix": Case(
        b'{"action": "test_webhook"}',
        headers={"Sendcloud-Signature": "sha256=" + sign(b'{"action": "test_webhook"}', SECRET)},
        signed=False,
        status=401,
        stored_as=None,
    ),
    "signed with another key": Case(
        b'{"action": "test_webhook"}',
        headers={"Sendcloud-Signature": sign(b'{"action": "test_webhook"}', "another-key")},
        signed=False,
        status=401,
        stored_as=None,
    ),
    "body altered after signing": Case(
        b'{"action": "test_webhook" }',
        headers={"Sendcloud-Signature": sign(b'{"action": "test_webhook"}', SECRET)},
        signed=False,
        status=401,
        stored_as=None,
    ),
    "non-ascii signature header": Case(
        b'{"action": "test_webhook"}',
        headers={"Sendcloud-Signature": "\u00e9" * 64},
        signed=False,
        status=401,
        stored_as=None,
    ),
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(make_app: Callable[..., Flask], tmp_path: Path, request: pytest.FixtureRequest) -> Flask:
    # Both stores: each has its own hand-written hot path (receivers/inbox.py).
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bad.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    return make_app(real_keys_env(url, WEBHOOK_MAX_BODY_BYTES=str(LIMIT)))


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_the_right_status_and_loses_nothing_signed(app: Flask, name: str) -> None:
    case = CASES[name]
    client = app.test_client()
    headers = dict(case.headers)
    if case.signed:
        headers["Sendcloud-Signature"] = sign(case.body, SECRET)
    if name == "non-ascii signature header":
        # Werkzeug's test client only sends latin-1 headers; use the raw environ instead.
        headers = {}
        environ = {"HTTP_SENDCLOUD_SIGNATURE": case.headers["Sendcloud-Signature"]}
    else:
        environ = {}
    response = client.post(
        "/webhooks/sendcloud", data=case.body, headers=headers, environ_overrides=environ
    )
    text = response.get_data(as_text=True)
    assert response.status_code == case.status, text
    if case.status != 200:
        assert "error" in response.get_json()
    assert "Traceback" not in text
    assert 'File "' not in text
    assert len(text) < 1000
    events = stored(client)
    if case.stored_as is None:
        assert events == []
    else:
        assert [e["outcome"] for e in events] == [case.stored_as]
        assert app.extensions["receivers"].store.raw_body(events[0]["id"])[0] == case.body


def test_operator_api_refuses_missing_and_wrong_tokens(app: Flask) -> None:
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/events", headers=headers)
        assert response.status_code == 401
        assert "token" in response.get_json()["error"]
    assert client.get("/api/events", headers=AUTH).status_code == 200


def test_text_values_are_stored_and_read_back_exactly(app: Flask) -> None:
    body = (
        '{"action": "parcel_status_changed", "timestamp": 5, "parcel": {"id": 77, '
        '"tracking_number": "caf\u00e9-\u00df-\U0001f4e6", '
        '"status": {"id": 11, "message": "Zugestellt \u2013 \u00fcbergeben"}}}'
    ).encode()
    client = app.test_client()
    response = client.post(
        "/webhooks/sendcloud", data=body, headers={"Sendcloud-Signature": sign(body, SECRET)}
    )
    assert response.status_code == 200
    parcel = client.get("/api/parcels/77", headers=AUTH).get_json()
    assert parcel["tracking_number"] == "caf\u00e9-\u00df-\U0001f4e6"
    assert parcel["status"] == {"id": 11, "message": "Zugestellt \u2013 \u00fcbergeben"}
    assert parcel["timestamp"] == 5
    assert app.extensions["receivers"].store.raw_body(stored(client)[0]["id"])[0] == body
