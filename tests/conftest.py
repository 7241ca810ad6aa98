"""Shared fixtures: app factory per test, real PostgreSQL schemas, loopback servers."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import stamina
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import create_app
from bootstrap.sandbox import LoopbackServer

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytest_plugins = ["tests.sandbox_fixture"]
# Loopback servers for tests: the sandbox's own (threaded werkzeug, a short poll interval).
LiveServer = LoopbackServer


@pytest.fixture(autouse=True)
def _retries_without_waiting() -> Iterator[None]:
    """stamina's testing mode: Sendcloud calls are retried up to 5 times, without sleeping."""
    with stamina.set_testing(True, attempts=5):
        yield


def _pg_reachable() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server URL; skips locally but FAILS under CI=true when it is down."""
    problem = _pg_reachable()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {problem}")
    return PG_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A database URL whose connections live in a fresh, private schema (dropped afterwards)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in pg_server else "?"
    yield f"{pg_server}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a sandbox-mode app with its own SQLite file."""
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}"}


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build an app from an env mapping, with a private instance folder; shut down afterwards."""
    made: list[Flask] = []

    def make(env: dict[str, str]) -> Flask:
        app = create_app(env, instance_path=str(tmp_path / "instance"))
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield make
    for app in made:
        shutdown_app(app)


def shutdown_app(app: Flask) -> None:
    """Stop the app's background threads and close its database pool."""
    for stop in reversed(app.extensions.get("on_shutdown", [])):
        stop()


@pytest.fixture
def app(make_app: Callable[..., Flask], base_env: dict[str, str]) -> Flask:
    """A sandbox-mode app on a fresh SQLite file."""
    return make_app(base_env)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """The Flask test client of `app`."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """The Flask CLI runner of `app`."""
    return app.test_cli_runner()


@pytest.fixture
def live_server() -> Iterator[Callable[..., LoopbackServer]]:
    """Serve apps on loopback ports (`app` may be set later: `server.app = ...`); all are
    stopped after the test."""
    started: list[LoopbackServer] = []

    def start(app: Flask | None = None) -> LoopbackServer:
        server = LoopbackServer(app)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def fresh_env(**extra: str) -> dict[str, str]:
    """This process's environment without Sendcloud settings (a fresh machine), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENDCLOUD_", "SERVICE_"))}
    return {**env, **extra}


def run_flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`flask --app app ARGS` in a subprocess of the repository, its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_for_http(url: str, timeout: float = 20.0) -> None:
    """Poll `url` until it answers anything, or fail."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException as exc:
            last = exc
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up within {timeout}s: {last}")


def gunicorn_command(port: int, workers: int, *extra: str) -> list[str]:
    """The Procfile's web process (gunicorn.conf.py) on a loopback port."""
    config = str(REPO / "gunicorn.conf.py")
    workers_arg = ["--workers", str(workers)]
    gunicorn = [sys.executable, "-m", "gunicorn", "--config", config]
    return [*gunicorn, "--bind", f"127.0.0.1:{port}", *workers_arg, *extra, "app:create_app()"]


class Gunicorn:
    """`gunicorn 'app:create_app()'` as a subprocess on a loopback port."""

    def __init__(self, env: dict[str, str], workers: int, log_path: Path, extra: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = fresh_env(**env)
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            gunicorn_command(self.port, workers, *extra),
            cwd=REPO,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http(self.url + "/healthz")
        except AssertionError:
            self.stop()
            raise AssertionError("gunicorn did not start:\n" + log_path.read_text()) from None

    def stop(self) -> None:
        """Terminate gunicorn and its workers."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    """Start gunicorn servers of the real app; all are stopped after the test."""
    started: list[Gunicorn] = []

    def start(env: dict[str, str], workers: int = 2, extra: list[str] | None = None) -> Gunicorn:
        server = Gunicorn(env, workers, tmp_path / f"gunicorn-{len(started)}.log", extra or [])
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def random_secret() -> str:
    """A fresh secret for a test."""
    return secrets.token_urlsafe(24)


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave files for humans (screenshots); kept after the run."""
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Every test that uses PostgreSQL carries the `postgres` marker: those asking for pg_url
    or pg_server, and those a fixture parametrised with "postgresql" runs against it (such a
    fixture asks for pg_url through request.getfixturevalue, invisible to fixturenames)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if names & {"pg_url", "pg_server"} or "postgresql" in params.values():
            item.add_marker(pytest.mark.postgres)
