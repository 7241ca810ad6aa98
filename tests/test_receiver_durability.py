"""Durable before acknowledged: SQLite's group commit, a locked file, workers killed under load."""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from receivers import services, watchdog
from tests.benchmarks.crash_receiver import crash
from tests.receiver_kit import encode, parcel_event, post_signed, real_keys_env, stored


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "durable.sqlite3"


@pytest.fixture
def app(make_app: Callable[..., Flask], database: Path) -> Flask:
    return make_app(real_keys_env(f"sqlite:///{database}"))


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files fdatasync'ed or fsync'ed from now on, by path, in order (the calls still run)."""
    seen: list[str] = []
    for name in ("fdatasync", "fsync"):
        real = getattr(os, name)

        def spy(fd: int, real: Callable[[int], None] = real) -> None:
            seen.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd)

        monkeypatch.setattr(os, name, spy)
    return seen


def test_stored_and_duplicate_answers_both_wait_for_the_wal_on_disk(
    client: FlaskClient, database: Path, synced: list[str]
) -> None:
    body = encode(parcel_event(51, 1000, 3))
    assert post_signed(client, body).get_json() == {"status": "stored"}
    assert synced[-1:] == [f"{database}-wal"]
    synced.clear()
    # A duplicate's first copy may still be in another worker's unsynced commit.
    assert post_signed(client, body).get_json() == {"status": "duplicate"}
    assert synced[-1:] == [f"{database}-wal"]


def test_a_new_wal_file_is_synced_with_its_directory(
    app: Flask, client: FlaskClient, database: Path, synced: list[str]
) -> None:
    assert post_signed(client, encode(parcel_event(52, 1000, 3))).status_code == 200
    # The last connection closes, so SQLite deletes the WAL; the next write creates one.
    services(app).db.engine.dispose()
    assert not Path(f"{database}-wal").exists()
    synced.clear()
    assert post_signed(client, encode(parcel_event(53, 1000, 3))).status_code == 200
    assert synced == [str(database.parent), f"{database}-wal"]
    assert len(stored(client)) == 2


def test_a_wal_that_cannot_be_synced_is_not_acknowledged(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(_fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fdatasync", failing)
    answer = post_signed(client, encode(parcel_event(54, 1000, 3)))
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]


def test_a_locked_sqlite_file_answers_503_within_the_bound(
    make_app: Callable[..., Flask], database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watchdog, "QUERY_TIMEOUT_S", 0.5)  # SQLite's busy_timeout follows it
    client = make_app(real_keys_env(f"sqlite:///{database}")).test_client()
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock, stuck
    try:
        started = time.monotonic()
        answer = post_signed(client, encode(parcel_event(55, 1000, 3)))
        elapsed = time.monotonic() - started
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert answer.status_code == 503
    assert 0.5 <= elapsed < 2.0
    assert post_signed(client, encode(parcel_event(55, 1000, 3))).status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", pytest.param("pg", marks=pytest.mark.postgres)])
def test_killing_every_worker_under_load_loses_and_doubles_no_acknowledged_delivery(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if store == "pg":
        request.getfixturevalue("pg_server")  # skips (fails in CI) without PostgreSQL
    tally = crash(store, seconds=2, kills=2, clients=4, work=tmp_path, workers=2)
    assert tally.kills == 2
    assert len(tally.acknowledged) > 20
    assert (tally.missing, tally.doubled, tally.strays) == (0, 0, 0)
