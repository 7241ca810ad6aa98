"""The bad-input table of the attack run: every row gets a 4xx in plain words, on both stores,
never a 5xx or an ERROR line."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Gunicorn
from tests.receiver_kit import AUTH, real_keys_env

BIG = "9" * 30  # far past BIGINT
NESTED = b"[" * 100_000 + b"]" * 100_000

TABLE: list[tuple[str, str, str, dict[str, str], bytes, int]] = [
    ("limit is a non-ASCII digit", "GET", "/api/events?limit=%C2%B2", AUTH, b"", 400),
    ("limit is an Arabic-Indic digit", "GET", "/api/events?limit=%D9%A3", AUTH, b"", 400),
    ("parcel id past int64", "GET", f"/api/parcels/{BIG}", AUTH, b"", 404),
    ("parcel id at int64's maximum", "GET", f"/api/parcels/{2**63 - 1}", AUTH, b"", 404),
    ("replay id past int64", "POST", f"/api/events/{BIG}/replay", AUTH, b"", 404),
    ("JSON nested 100,000 deep", "POST", "/api/onboarding", AUTH, NESTED, 400),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def client(
    make_app: Callable[..., Flask], tmp_path: Path, request: pytest.FixtureRequest
) -> FlaskClient:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'table.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    return make_app(real_keys_env(url)).test_client()


@pytest.mark.parametrize(("what", "method", "path", "headers", "body", "status"), TABLE)
def test_each_bad_input_is_a_4xx_in_plain_words(
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    what: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    with caplog.at_level(logging.INFO):
        response = client.open(path, method=method, headers=headers, data=body)
    assert response.status_code == status, what
    assert response.get_json()["error"], what
    assert "ERROR" not in caplog.text, what


def test_a_nul_byte_in_a_filter_is_not_a_storage_outage(client: FlaskClient) -> None:
    response = client.get("/api/events?action=%00", headers=AUTH)
    # PostgreSQL refuses NUL in text (400, in plain words); SQLite stores it (nothing found).
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert "refused a value" in response.get_json()["error"]


@pytest.mark.slow
def test_a_malformed_chunked_body_is_a_400_without_an_error_line(
    gunicorn: Callable[..., Gunicorn], tmp_path: Path
) -> None:
    server = gunicorn(real_keys_env(f"sqlite:///{tmp_path / 'chunked.sqlite3'}"), workers=1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /webhooks/sendcloud HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\nSendcloud-Signature: 00\r\n\r\nzz\r\nnot a chunk\r\n0\r\n\r\n"
        )
        answer = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    assert answer.startswith("HTTP/1.1 400"), answer
    assert "could not be read" in answer
    assert " ERROR " not in server.log_path.read_text()
