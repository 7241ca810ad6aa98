"""Relay processes on PostgreSQL: two share the work, never double-send; kill -9 loses nothing."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

import receivers
from receivers.db import Database
from receivers.relay.tables import relay_deliveries
from receivers.signature import sign
from tests.conftest import REPO, fresh_env
from tests.receiver_kit import encode, parcel_event, post_signed, real_keys_env
from tests.relay_kit import Consumer, add_destination, consumers, wait_until
from tests.test_sandbox_tour import Served, served

__all__ = ["consumers", "served"]

pytestmark = pytest.mark.slow
EVENTS = 1000


@pytest.fixture
def relays(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], subprocess.Popen[bytes]]]:
    """Start `flask --app app relay` processes; all are stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []
    logs: list[BinaryIO] = []

    def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"relay-{len(started)}.log").open("wb")
        logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "relay"],
            cwd=REPO,
            env=fresh_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    for log in logs:
        log.close()


def _setup(
    make_app: Callable[..., Flask], pg_url: str, consumers: Callable[..., Consumer]
) -> tuple[Flask, dict[str, str], list[Consumer]]:
    env = real_keys_env(pg_url, RELAY_ALLOW_PRIVATE="true", RELAY_RETRY_SCALE="0.001")
    app = make_app(env)
    sinks = [consumers(), consumers()]
    for sink in sinks:
        add_destination(app, sink.url)
    return app, env, sinks


def _write(app: Flask, first: int, count: int) -> None:
    client = app.test_client()
    for n in range(first, first + count):
        assert post_signed(client, encode(parcel_event(n, 1000, 1))).status_code == 200


def _delivered(app: Flask) -> int:
    query = sa.select(sa.func.count()).where(relay_deliveries.c.state == "delivered")
    with receivers.services(app).db.begin_read() as conn:
        return int(conn.execute(query).scalar_one())


def _by_parcel(sink: Consumer) -> dict[int, set[str]]:
    seen: dict[int, set[str]] = collections.defaultdict(set)
    for delivery in list(sink.received):
        seen[json.loads(delivery.body)["data"]["parcel"]["id"]].add(delivery.webhook_id)
    return seen


def test_two_relays_deliver_each_event_exactly_once_to_each_destination(
    make_app: Callable[..., Flask],
    pg_url: str,
    consumers: Callable[..., Consumer],
    relays: Callable[[dict[str, str]], subprocess.Popen[bytes]],
) -> None:
    app, env, sinks = _setup(make_app, pg_url, consumers)
    relays(env)
    relays(env)
    _write(app, 0, EVENTS)
    wait_until(lambda: _delivered(app) == 2 * EVENTS, timeout=120)
    for sink in sinks:
        assert len(sink.received) == EVENTS  # none twice
        assert sorted(_by_parcel(sink)) == list(range(EVENTS))  # none missing


def test_kill_9_of_a_relay_mid_run_loses_nothing(
    make_app: Callable[..., Flask],
    pg_url: str,
    consumers: Callable[..., Consumer],
    relays: Callable[[dict[str, str]], subprocess.Popen[bytes]],
) -> None:
    app, env, sinks = _setup(make_app, pg_url, consumers)
    for sink in sinks:
        sink.delay = 0.005  # sends are in flight when the kill comes
    victim = relays(env)
    relays(env)
    _write(app, 0, EVENTS // 2)
    wait_until(lambda: len(sinks[0].received) > EVENTS // 4, timeout=60)
    for sink in sinks:
        sink.delay = 1.0  # both relays now hold sends in flight...
    time.sleep(0.5)
    os.kill(victim.pid, signal.SIGKILL)  # ...and one dies mid-send
    for sink in sinks:
        sink.delay = 0.005
    _write(app, EVENTS // 2, EVENTS // 2)
    # The victim's leases (60 s) expire, then the survivor sends what it held.
    wait_until(lambda: _delivered(app) == 2 * EVENTS, timeout=150)
    for sink in sinks:
        seen = _by_parcel(sink)
        assert sorted(seen) == list(range(EVENTS))
        # A resend after the kill is the same message: one webhook-id per event.
        assert all(len(ids) == 1 for ids in seen.values())
    # What the victim had in flight reached the consumers and was sent again after its lease.
    assert sum(len(sink.received) for sink in sinks) > 2 * EVENTS


def test_flask_run_in_sandbox_mode_relays_in_process_to_the_catcher(served: Served) -> None:
    auth = {"Authorization": f"Bearer {served.token}"}
    catcher = f"{served.url}/sandbox/catcher"
    added = requests.post(
        f"{served.url}/api/destinations", json={"url": catcher}, headers=auth, timeout=10
    )
    assert added.status_code == 201, added.text
    page = requests.get(f"{served.url}/onboarding", params={"token": served.token}, timeout=10)
    assert "/sandbox/catcher</code> as a destination" in page.text
    db = Database(served.env["DATABASE_URL"])
    try:
        key = db.stored_value("sandbox_secret_key", str)
    finally:
        db.dispose()
    body = encode(parcel_event(77, 1000, 11))
    stored = requests.post(
        f"{served.url}/webhooks/sendcloud",
        data=body,
        headers={"Sendcloud-Signature": sign(body, key)},
        timeout=10,
    )
    assert stored.status_code == 200
    seen = wait_until(lambda: requests.get(catcher, timeout=10).json()["received"], timeout=10)
    assert seen[0]["verified"] is True
    assert seen[0]["type"] == "parcel_status_changed"
    forged = requests.post(catcher, data=b"{}", headers={"webhook-id": "x"}, timeout=10)
    assert forged.status_code == 401
