"""Attempts live in the database: any process sees and re-evaluates them, also after a restart."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from bootstrap.attempts.tables import attempts
from bootstrap.errors import AttemptInProgress
from bootstrap.owned import OwnedSettings, desired
from bootstrap.sandbox import LoopbackServer
from bootstrap.services import BootstrapServices, services
from tests.conftest import shutdown_app
from tests.sandbox_fixture import SendcloudSandbox


def wait_for_state(app: Flask, wanted: str, timeout: float = 10.0) -> str | None:
    """Poll `latest()` of `app` until the state is `wanted` (or time runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        latest = services(app).watcher.latest()
        state = latest.state if latest else None
        if state == wanted or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


@pytest.fixture
def public(live_server: Callable[..., LoopbackServer]) -> LoopbackServer:
    """The loopback server behind PUBLIC_URL; `serve` puts an app on it."""
    return live_server()


@pytest.fixture
def shared_env(
    sendcloud: SendcloudSandbox, tmp_path: Path, public: LoopbackServer
) -> dict[str, str]:
    """Real-keys env whose PUBLIC_URL is `public`; every app built from it shares one DB."""
    return _env(f"sqlite:///{tmp_path / 'shared.sqlite3'}", sendcloud, public)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_env(
    request: pytest.FixtureRequest,
    sendcloud: SendcloudSandbox,
    tmp_path: Path,
    public: LoopbackServer,
) -> dict[str, str]:
    """`shared_env` on SQLite, then on PostgreSQL (ask for it before make_app: the schema
    must outlive the apps' background threads)."""
    if request.param == "postgresql":
        return _env(request.getfixturevalue("pg_url"), sendcloud, public)
    return _env(f"sqlite:///{tmp_path / 'shared.sqlite3'}", sendcloud, public)


def _env(database_url: str, sendcloud: SendcloudSandbox, public: LoopbackServer) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        **sendcloud.env(),
        "PUBLIC_URL": public.url,
        "SERVICE_POINT_CARRIERS": "ups",
        "SENDCLOUD_RETRY_BUDGET": "2",
    }


def wanted(app: Flask) -> OwnedSettings:
    """The desired settings of `app`'s configuration."""
    settings = services(app).settings
    return desired(
        settings.public_url or "", settings.service_point_enabled, settings.service_point_carriers
    )


def test_start_returns_at_once_and_the_attempt_finishes_in_the_background(
    make_app: Callable[..., Flask], shared_env: dict[str, str], public: LoopbackServer
) -> None:
    app = public.app = make_app(shared_env)
    found = services(app)

    started = found.bootstrapper.start(wanted(app), wait_seconds=10)

    assert started.state == "planned"
    assert [s.status for s in started.steps] == ["pending"] * 6
    assert wait_for_state(app, "verified") == "verified"
    latest = found.watcher.latest()
    assert latest is not None
    as_json = latest.to_json()
    assert as_json["attempt_id"] == started.attempt_id
    assert as_json["webhook_url"] == wanted(app).webhook_url
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


def test_a_webhook_landing_on_another_process_verifies_the_attempt(
    any_store_env: dict[str, str], make_app: Callable[..., Flask], public: LoopbackServer
) -> None:
    runner = make_app(any_store_env)  # runs the attempt, receives nothing
    public.app = receiver = make_app(any_store_env)  # serves PUBLIC_URL: the webhook lands here

    services(runner).bootstrapper.start(wanted(runner), wait_seconds=10)

    assert wait_for_state(runner, "verified") == "verified"
    assert wait_for_state(receiver, "verified") == "verified"


def test_every_process_reads_one_desired_state_the_newest_change_sendcloud_took(
    any_store_env: dict[str, str],
    make_app: Callable[..., Flask],
    public: LoopbackServer,
    sendcloud: SendcloudSandbox,
) -> None:
    first = public.app = make_app(any_store_env)
    other = make_app(any_store_env)
    took = dataclasses.replace(wanted(first), service_point_carriers=("dpd",))
    assert services(first).bootstrapper.run(took, wait_seconds=10).state == "verified"
    # Sendcloud's carrier list unreadable, so its 400 to the PATCH is what refuses this one.
    sendcloud.faults(fail_next=9, fail_status=403, fail_body="", fail_path="/servicepoints/")
    refused = dataclasses.replace(took, service_point_carriers=("nosuchcarrier",))
    assert services(other).bootstrapper.run(refused, wait_seconds=1).state == "failed"

    for app in (first, other):
        found = services(app).desired()
        assert found.settings.service_point_carriers == ("dpd",)
        assert found.sources["service_point_carriers"].startswith("last applied ")


def test_after_a_restart_the_attempt_is_re_evaluated_from_the_database(
    make_app: Callable[..., Flask],
    shared_env: dict[str, str],
    public: LoopbackServer,
    sendcloud: SendcloudSandbox,
) -> None:
    sendcloud.faults(drop_webhooks=5)
    first = public.app = make_app(shared_env)
    started = services(first).bootstrapper.start(wanted(first), wait_seconds=0.3)
    assert wait_for_state(first, "awaiting_webhook") == "awaiting_webhook"
    shutdown_app(first)  # the process stops while waiting
    deadline = services(first).bootstrapper.attempts.get(started.attempt_id).deadline_at
    assert deadline is not None
    time.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()))
    restarted = make_app(shared_env)

    latest = services(restarted).watcher.latest()
    assert latest is not None
    assert latest.state == "timed_out"
    assert latest.hint is not None
    assert "Test API Webhook" in latest.hint
    assert latest.previous is not None
    assert latest.previous.webhook_url == ""  # no URL, as Sendcloud shows it


def test_workers_starting_at_the_same_instant_start_exactly_one_attempt(
    any_store_env: dict[str, str], make_app: Callable[..., Flask], sendcloud: SendcloudSandbox
) -> None:
    """Two apps on one database (two workers), two threads each, start at once: one wins."""
    apps = [make_app(any_store_env) for _ in range(2)]
    workers = [services(app) for app in apps]
    # A slow Sendcloud keeps the winner applying while the others try to start.
    sendcloud.faults(latency_ms=500)
    target = wanted(apps[0])
    barrier = threading.Barrier(4)
    started: list[str] = []
    refused: list[str] = []

    def start(worker: BootstrapServices) -> None:
        barrier.wait(5)
        try:
            started.append(worker.bootstrapper.start(target, wait_seconds=1).attempt_id)
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
    with workers[0].bootstrapper.attempts.db.begin_read() as conn:
        stored = conn.execute(sa.select(attempts.c.id)).scalars().all()
    assert stored == started
