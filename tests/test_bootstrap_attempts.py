"""Attempts live in the database: any process sees and re-evaluates them, also after a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

import bootstrap
from bootstrap.attempt_tables import MIGRATIONS, attempts
from bootstrap.errors import AttemptInProgress
from bootstrap.plan import desired_for
from receivers.db import Database
from receivers.migrations import CORE_MIGRATIONS
from tests.conftest import free_port, shutdown_app
from tests.sandbox_fixture import SendcloudSandbox


def wait_for_state(app: Flask, wanted: str, timeout: float = 10.0) -> str | None:
    """Poll `latest()` of `app` until the state is `wanted` (or time runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        latest = bootstrap.services(app).bootstrapper.latest()
        state = latest.state if latest else None
        if state == wanted or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


@pytest.fixture
def shared_env(sendcloud: SendcloudSandbox, tmp_path: Path) -> dict[str, str]:
    """Real-keys env whose PUBLIC_URL port is free; every app built from it shares one DB."""
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        **sendcloud.env(),
        "PUBLIC_URL": f"http://127.0.0.1:{free_port()}",
        "SERVICE_POINT_CARRIERS": "ups",
        "SENDCLOUD_RETRY_BUDGET": "2",
    }


def serve(live_server: Callable[..., Any], app: Flask) -> None:
    """Serve `app` on the port of its PUBLIC_URL."""
    public_url = bootstrap.services(app).settings.public_url
    assert public_url is not None
    live_server(app, int(public_url.rsplit(":", 1)[1]))


def test_start_returns_at_once_and_the_attempt_finishes_in_the_background(
    make_app: Callable[..., Flask], shared_env: dict[str, str], live_server: Callable[..., Any]
) -> None:
    app = make_app(shared_env)
    serve(live_server, app)
    found = bootstrap.services(app)
    desired = desired_for(found.settings.public_url or "", found.settings)

    started = found.bootstrapper.start(desired, wait_seconds=10)

    assert started.state == "planned"
    assert [s.status for s in started.steps] == ["pending"] * 6
    assert wait_for_state(app, "verified") == "verified"
    latest = found.bootstrapper.latest()
    assert latest is not None
    as_json = latest.to_json()
    assert as_json["attempt_id"] == started.attempt_id
    assert as_json["webhook_url"] == desired.webhook_url
    assert as_json["service_point_carriers"] == ["ups"]
    assert as_json["verified_at"] is not None
    assert [s["name"] for s in as_json["steps"]] == [
        "credentials",
        "integration_found",
        "public_url_reachable",
        "change_applied",
        "read_back",
        "webhook_received",
    ]


def _cross_process_round_trip(
    make_app: Callable[..., Flask], env: dict[str, str], live_server: Callable[..., Any]
) -> None:
    runner = make_app(env)  # runs the attempt, receives nothing
    receiver = make_app(env)  # serves PUBLIC_URL: Sendcloud's webhook lands here
    serve(live_server, receiver)
    found = bootstrap.services(runner)
    desired = desired_for(found.settings.public_url or "", found.settings)

    found.bootstrapper.start(desired, wait_seconds=10)

    assert wait_for_state(runner, "verified") == "verified"
    assert wait_for_state(receiver, "verified") == "verified"


def test_a_webhook_landing_on_another_process_verifies_the_attempt(
    make_app: Callable[..., Flask], shared_env: dict[str, str], live_server: Callable[..., Any]
) -> None:
    _cross_process_round_trip(make_app, shared_env, live_server)


def test_the_round_trip_across_processes_works_on_postgresql(
    make_app: Callable[..., Flask],
    shared_env: dict[str, str],
    live_server: Callable[..., Any],
    pg_url: str,
) -> None:
    _cross_process_round_trip(make_app, {**shared_env, "DATABASE_URL": pg_url}, live_server)


def test_after_a_restart_the_attempt_is_re_evaluated_from_the_database(
    make_app: Callable[..., Flask],
    shared_env: dict[str, str],
    live_server: Callable[..., Any],
    sendcloud: SendcloudSandbox,
) -> None:
    sendcloud.faults(drop_webhooks=5)
    first = make_app(shared_env)
    serve(live_server, first)
    found = bootstrap.services(first)
    desired = desired_for(found.settings.public_url or "", found.settings)
    found.bootstrapper.start(desired, wait_seconds=0.5)
    assert wait_for_state(first, "awaiting_webhook") == "awaiting_webhook"
    shutdown_app(first)  # the process stops while waiting

    time.sleep(0.6)
    restarted = make_app(shared_env)

    latest = bootstrap.services(restarted).bootstrapper.latest()
    assert latest is not None
    assert latest.state == "timed_out"
    assert latest.hint is not None
    assert "Test API Webhook" in latest.hint
    assert latest.previous is not None
    assert latest.previous["webhook_url"] is None


def _start_at_the_same_instant(
    make_app: Callable[..., Flask], env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    """Two apps on one database (two workers), two threads each, start at once: one wins."""
    workers = [bootstrap.services(make_app(env)) for _ in range(2)]
    # A slow Sendcloud keeps the winner applying while the others try to start.
    sendcloud.faults(latency_ms=500)
    desired = desired_for(workers[0].settings.public_url or "", workers[0].settings)
    barrier = threading.Barrier(4)
    started: list[str] = []
    refused: list[str] = []

    def start(worker: bootstrap.BootstrapServices) -> None:
        barrier.wait(5)
        try:
            started.append(worker.bootstrapper.start(desired, wait_seconds=1).attempt_id)
        except AttemptInProgress as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=start, args=(workers[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(started) == 1, refused
    assert len(refused) == 3
    assert all(f"attempt {started[0]}" in message for message in refused)
    with workers[0].db.begin_read() as conn:
        stored = conn.execute(sa.select(attempts.c.id)).scalars().all()
    assert stored == started


def test_workers_starting_at_the_same_instant_start_exactly_one_attempt(
    make_app: Callable[..., Flask], shared_env: dict[str, str], sendcloud: SendcloudSandbox
) -> None:
    _start_at_the_same_instant(make_app, shared_env, sendcloud)


def test_workers_starting_at_the_same_instant_on_postgresql_start_exactly_one_attempt(
    pg_url: str,  # first, so its schema outlives the apps' background threads
    make_app: Callable[..., Flask],
    shared_env: dict[str, str],
    sendcloud: SendcloudSandbox,
) -> None:
    _start_at_the_same_instant(make_app, {**shared_env, "DATABASE_URL": pg_url}, sendcloud)


def test_upgrading_keeps_only_the_newest_of_attempts_left_active_by_an_old_race(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        db.upgrade([*CORE_MIGRATIONS, MIGRATIONS[0]])
        with db.begin_write() as conn:
            for attempt_id, second in (("older", 1), ("newer", 2)):
                at = datetime(2025, 1, 1, 12, 0, second, tzinfo=UTC)
                conn.execute(
                    attempts.insert().values(
                        id=attempt_id,
                        integration_id=1,
                        kind="apply",
                        state="applying",
                        target="{}",
                        started_at=at,
                        updated_at=at,
                    )
                )

        db.upgrade([*CORE_MIGRATIONS, *MIGRATIONS])

        with db.begin_read() as conn:
            states = dict(conn.execute(sa.select(attempts.c.id, attempts.c.state)).all())
        assert states == {"older": "failed", "newer": "applying"}
    finally:
        db.dispose()
