"""PostgreSQL: de-duplication across gunicorn processes, and bounded answers while it is gone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from receivers import services, watchdog
from receivers.signature import sign
from receivers.webhook import PATH
from tests.receiver_kit import (
    AUTH,
    SECRET,
    encode,
    parcel_event,
    post_signed,
    real_keys_env,
    stored,
)
from tests.tcpproxy import TcpProxy


def _rows(pg_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT event_hash, outcome FROM webhook_events").fetchall()


def test_50_identical_deliveries_to_2_gunicorn_processes_store_exactly_one(
    pg_url: str, gunicorn: Callable[..., Any]
) -> None:
    server = gunicorn(real_keys_env(pg_url), workers=2)
    body = encode(parcel_event(77, 5000, 11, "Delivered"))
    headers = {"Sendcloud-Signature": sign(body, SECRET), "Content-Type": "application/json"}

    def deliver(_: int) -> int:
        with requests.Session() as session:
            url = server.url + "/webhooks/sendcloud"
            return session.post(url, data=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(deliver, range(50)))
    assert statuses == [200] * 50
    assert [outcome for _, outcome in _rows(pg_url)] == ["applied"]


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


@pytest.fixture
def proxied(pg_url: str, make_app: Callable[..., Flask]) -> Iterator[tuple[FlaskClient, TcpProxy]]:
    """A real-keys app whose database connections go through a proxy the test can cut or hang.

    One delivery is stored first, so the process holds a live connection when the test starts.
    """
    target = urlsplit(pg_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    proxy.start()
    try:
        client = make_app(real_keys_env(_through(pg_url, proxy.port))).test_client()
        first = encode({"action": "test_webhook", "timestamp": 1})
        assert post_signed(client, first).status_code == 200
        yield client, proxy
    finally:
        proxy.stop()


def test_storage_outage_answers_503_and_the_retry_is_stored_once(
    pg_url: str, proxied: tuple[FlaskClient, TcpProxy], caplog: pytest.LogCaptureFixture
) -> None:
    client, proxy = proxied
    proxy.stop()
    body = encode(parcel_event(88, 6000, 3, "En route"))
    down = post_signed(client, body)
    assert down.status_code == 503
    assert down.headers["Retry-After"]
    assert "storage unavailable" in down.get_json()["error"]
    assert "Traceback" not in down.get_data(as_text=True)
    # The operator sees why a delivery was refused (the error type, never its values).
    assert "storage_unavailable method=POST path=/webhooks/sendcloud" in caplog.text

    proxy.start()
    assert post_signed(client, body).status_code == 200
    assert post_signed(client, body).get_json() == {"status": "duplicate"}
    assert sorted(e["action"] for e in stored(client)) == [
        "parcel_status_changed",
        "test_webhook",
    ]
    assert len(_rows(pg_url)) == 2


@pytest.fixture
def one_second_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every database wait bounded by 1 s instead of 5 s (connecting: libpq's minimum, 2 s)."""
    monkeypatch.setattr(watchdog, "QUERY_TIMEOUT_S", 1.0)


def _timed_post(client: FlaskClient, body: bytes) -> tuple[TestResponse, float]:
    started = time.monotonic()
    answer = post_signed(client, body)
    return answer, time.monotonic() - started


@pytest.mark.usefixtures("one_second_deadline")
def test_a_connection_that_stops_answering_is_replaced_within_the_deadline(
    pg_url: str, proxied: tuple[FlaskClient, TcpProxy]
) -> None:
    client, proxy = proxied
    proxy.hang()  # the pooled connections go silent; new connections still work
    answer, elapsed = _timed_post(client, encode(parcel_event(89, 6000, 3, "En route")))
    assert answer.status_code == 200
    assert 1.0 <= elapsed < 3.0  # the pool's pre-ping is cut, then a fresh connection
    assert len(_rows(pg_url)) == 2


@pytest.mark.usefixtures("one_second_deadline")
def test_a_database_that_never_answers_gets_503_in_bounded_time_then_recovers(
    pg_url: str, proxied: tuple[FlaskClient, TcpProxy]
) -> None:
    client, proxy = proxied
    proxy.hang(new_connections=True)
    body = encode(parcel_event(90, 6000, 3, "En route"))
    down, elapsed = _timed_post(client, body)
    assert down.status_code == 503
    assert "Traceback" not in down.get_data(as_text=True)
    # The pre-ping's deadline, then the fresh connection's connect_timeout: inside
    # gunicorn's 30 s worker timeout, so the sender gets an answer, not a reset.
    assert elapsed < 5.0

    proxy.stop()
    proxy.start()
    assert post_signed(client, body).status_code == 200
    assert len(_rows(pg_url)) == 2


@pytest.mark.usefixtures("one_second_deadline")
def test_every_query_is_bounded_the_operator_api_readiness_and_rejection_counter(
    proxied: tuple[FlaskClient, TcpProxy],
) -> None:
    client, proxy = proxied
    proxy.hang(new_connections=True)
    requests = {
        "events": lambda: client.get("/api/events", headers=AUTH),
        "readyz": lambda: client.get("/readyz"),
        "rejected": lambda: client.post(
            PATH, data=b"{}", headers={"Sendcloud-Signature": "0" * 64}
        ),
    }

    def timed(name: str) -> tuple[int, float]:
        started = time.monotonic()
        status = requests[name]().status_code
        return status, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        answers = dict(zip(requests, pool.map(timed, requests), strict=True))
    assert {name: status for name, (status, _) in answers.items()} == {
        "events": 503,
        "readyz": 503,
        "rejected": 401,  # the count is lost, the answer is not held up
    }
    assert max(elapsed for _, elapsed in answers.values()) < 5.0


def test_a_pooler_that_loses_prepared_statements_costs_no_delivery(
    pg_url: str, make_app: Callable[..., Flask]
) -> None:
    app = make_app(real_keys_env(pg_url))
    client = app.test_client()
    for n in range(6):  # psycopg prepares the statement on its 5th use
        assert post_signed(client, encode(parcel_event(n, 1000, 1))).status_code == 200
    # What a transaction-mode pooler does: the next server connection never saw the prepare
    # (DEALLOCATE wrapped in DO, or psycopg would notice and forget its prepares itself).
    hot = services(app).db.autocommit
    assert hot is not None
    with hot.connect() as conn:
        conn.exec_driver_sql("DO $$BEGIN EXECUTE 'DEALLOCATE ALL'; END$$")
    for n in range(6, 9):
        assert post_signed(client, encode(parcel_event(n, 1000, 1))).status_code == 200
    assert len(_rows(pg_url)) == 9
