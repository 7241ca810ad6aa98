"""Schema upgrades are idempotent and safe when several processes start at once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

import bootstrap
import receivers
from bootstrap.attempts.tables import attempts
from bootstrap.sandbox import Sandbox
from receivers.db import Database
from receivers.schemas import CREDENTIALS_ACTION
from receivers.tables import webhook_events
from tests.receiver_kit import AUTH, encode, parcel_event, post_signed, real_keys_env, stored
from tests.sandbox_calls import CORPUS

EVERY_BRANCH = [receivers.MIGRATIONS, bootstrap.MIGRATIONS]
CREDENTIALS_FIXTURE = "integration_credentials__oca-delivery-sendcloud-oca-test-fixture.json"

REPO = Path(__file__).resolve().parent.parent

UPGRADE_SCRIPT = """
import sys
from app import create_app
create_app({"DATABASE_URL": sys.argv[1]}, instance_path=sys.argv[2])
print("ok")
"""


def _upgrade_from_four_processes(url: str, tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_SCRIPT, url, str(tmp_path / f"inst{i}")],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip().endswith("ok")


def _assert_schema_once(url: str) -> None:
    db = Database(url)
    with db.begin_read() as conn:
        heads = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        values = conn.execute(sa.text("SELECT name FROM stored_values")).scalars().all()
    db.dispose()
    # Each branch at its newest revision, once.
    assert sorted(heads) == ["b0002", "r0006"]
    assert len(values) == len(set(values))
    # Everyone agreed on the single generated Flask secret.
    assert values.count("flask_secret_key") == 1


def test_four_processes_upgrade_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    _upgrade_from_four_processes(url, tmp_path)
    _assert_schema_once(url)


def test_four_processes_upgrade_one_postgresql_database(pg_url: str, tmp_path: Path) -> None:
    _upgrade_from_four_processes(pg_url, tmp_path)
    _assert_schema_once(pg_url)


def test_upgrade_twice_applies_nothing_the_second_time(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'again.sqlite3'}")
    assert db.upgrade(EVERY_BRANCH) == ["b0002", "r0006"]
    assert db.upgrade(EVERY_BRANCH) == []
    db.dispose()


def test_sqlite_is_wal_and_commits_without_fsync_under_the_lock(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'durable.sqlite3'}")
    with db.begin_read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        # NORMAL: begin_write syncs the WAL after the commit (tests/test_receiver_durability.py).
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    db.dispose()


def test_postgresql_commits_synchronously(pg_url: str) -> None:
    db = Database(pg_url)
    with db.begin_read() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    db.dispose()


def _as_before_alembic(db: Database) -> None:
    """Turn a fresh database into one the service made before Alembic took over."""
    with db.begin_write() as conn:
        for statement in (
            "DROP TABLE alembic_version",
            "CREATE TABLE schema_versions (component VARCHAR(64) PRIMARY KEY, version INTEGER)",
            "INSERT INTO schema_versions VALUES ('core', 1), ('receivers', 2), ('bootstrap', 1)",
            "DROP INDEX uq_bootstrap_attempts_active",
            "ALTER TABLE webhook_events DROP COLUMN source",
            "ALTER TABLE sandbox_faults DROP COLUMN silent_api_changes",
        ):
            conn.execute(sa.text(statement))
        conn.execute(
            sa.text(
                "INSERT INTO parcel_states VALUES (31, 5000, NULL, 11, 'Delivered', 'TRK31', :h)"
            ),
            {"h": "a" * 64},
        )
        # Two attempts left active side by side by a race the unique index now prevents.
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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_from_before_alembic_upgrades_and_keeps_its_rows(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, make_app: Callable[..., Flask]
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    url = url or f"sqlite:///{tmp_path / 'old.sqlite3'}"
    db = Database(url)
    db.upgrade(EVERY_BRANCH)
    old_event = post_signed(
        make_app(real_keys_env(url)).test_client(), encode(parcel_event(9, 1, 11))
    )
    assert old_event.status_code == 200
    _as_before_alembic(db)
    db.dispose()

    app = make_app(real_keys_env(url))

    client = app.test_client()
    # Rows kept; the new column says where the old deliveries came from.
    assert [e["source"] for e in stored(client)] == ["webhook"]
    parcel = client.get("/api/parcels/31", headers=AUTH).get_json()
    assert (parcel["status"], parcel["timestamp"]) == ({"id": 11, "message": "Delivered"}, 5000)
    db = Database(url)
    request.addfinalizer(db.dispose)
    with db.begin_read() as conn:
        states = dict(conn.execute(sa.select(attempts.c.id, attempts.c.state)).all())
        heads = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    assert states == {"older": "failed", "newer": "applying"}
    assert sorted(heads) == ["b0002", "r0006"]
    box = Sandbox(db)
    box.install("sandbox-old", "old-secret")
    assert box.faults(silent_api_changes=True).silent_api_changes is True
    # The upgraded tables take the upserts as before: older is stale, newer applies.
    older = post_signed(client, encode(parcel_event(31, 4000, 3)))
    newer = post_signed(client, encode(parcel_event(31, 7000, 12, "Returned")))
    assert (older.status_code, newer.status_code) == (200, 200)
    assert [e["outcome"] for e in stored(client)][:2] == ["applied", "stale"]
    assert client.get("/api/parcels/31", headers=AUTH).get_json()["status"]["id"] == 12


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_new_api_keys_stored_in_clear_before_the_upgrade_lose_their_secret(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    db = Database(url or f"sqlite:///{tmp_path / 'leak.sqlite3'}")
    request.addfinalizer(db.dispose)
    db.upgrade(EVERY_BRANCH)
    leaked = (CORPUS / "webhooks" / CREDENTIALS_FIXTURE).read_bytes()
    assert b'"secret_key": "test"' in leaked
    with db.begin_write() as conn:
        # As the receiver stored it before it knew the action.
        row = {"received_at": datetime.now(UTC), "signing_key": "current", "body": leaked}
        conn.execute(
            webhook_events.insert().values(
                event_hash="c" * 64, action=CREDENTIALS_ACTION, outcome="unrecognised", **row
            )
        )
        conn.execute(
            sa.text("UPDATE alembic_version SET version_num = 'r0002' WHERE version_num = 'r0006'")
        )

    assert db.upgrade(EVERY_BRANCH) == ["r0006"]
    assert db.upgrade(EVERY_BRANCH) == []
    with db.begin_read() as conn:
        body = bytes(conn.execute(sa.select(webhook_events.c.body)).scalar_one())
    assert b'"test"' not in body.replace(b'"public_key": "test"', b"")
    assert json.loads(body)["secret_key"] == "[redacted]"
