"""Schema upgrades are idempotent and safe when several processes start at once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from receivers import tables
from receivers.db import Database
from receivers.migrations import CORE_MIGRATIONS, Migration
from tests.receiver_kit import AUTH, encode, parcel_event, post_signed, real_keys_env, stored

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
        versions = conn.execute(sa.text("SELECT component, version FROM schema_versions")).all()
        values = conn.execute(sa.text("SELECT name FROM stored_values")).scalars().all()
    db.dispose()
    components = [c for c, _ in versions]
    assert "core" in components
    assert len(components) == len(set(components))
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
    from receivers.migrations import CORE_MIGRATIONS

    db = Database(f"sqlite:///{tmp_path / 'again.sqlite3'}")
    assert db.upgrade(CORE_MIGRATIONS) == ["core v1"]
    assert db.upgrade(CORE_MIGRATIONS) == []
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


def _state_autoindexes(url: str) -> list[str]:
    db = Database(url)
    with db.begin_read() as conn:
        names = conn.execute(
            sa.text("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_%_states_1'")
        )
        found = sorted(names.scalars().all())
    db.dispose()
    return found


def _v1_tables(conn: sa.Connection) -> None:
    """receivers v1 as it shipped: the state tables keyed by BIGINT (a second b-tree on SQLite)."""
    old = sa.MetaData()
    for table in tables.metadata.tables.values():
        table.to_metadata(old)
    old.tables["parcel_states"].c.parcel_id.type = sa.BigInteger()
    old.tables["integration_states"].c.integration_id.type = sa.BigInteger()
    old.create_all(conn)


def test_sqlite_state_tables_move_to_the_rowid_and_keep_their_rows(
    tmp_path: Path, make_app: Callable[..., Flask]
) -> None:
    url = f"sqlite:///{tmp_path / 'v1.sqlite3'}"
    db = Database(url)
    db.upgrade([*CORE_MIGRATIONS, Migration("receivers", 1, _v1_tables)])
    with db.begin_write() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO parcel_states VALUES (31, 5000, NULL, 11, 'Delivered', 'TRK31', :h)"
            ),
            {"h": "a" * 64},
        )
        conn.execute(
            sa.text(
                "INSERT INTO integration_states VALUES (7, 6000, 'integration_updated', 0, "
                "'https://shop.example/w', 1, 1, '[\"dhl\"]', :h)"
            ),
            {"h": "b" * 64},
        )
    db.dispose()
    assert _state_autoindexes(url) == [
        "sqlite_autoindex_integration_states_1",
        "sqlite_autoindex_parcel_states_1",
    ]

    app = make_app(real_keys_env(url))
    assert _state_autoindexes(url) == []
    client = app.test_client()
    parcel = client.get("/api/parcels/31", headers=AUTH).get_json()
    assert (parcel["status"], parcel["timestamp"]) == ({"id": 11, "message": "Delivered"}, 5000)
    state = app.extensions["receivers"].store.latest_integration_state(7)
    assert state is not None
    assert (state.webhook_url, state.service_point_carriers) == ("https://shop.example/w", ("dhl",))
    # The rebuilt tables take the upserts as before: older is stale, newer applies.
    older = post_signed(client, encode(parcel_event(31, 4000, 3)))
    newer = post_signed(client, encode(parcel_event(31, 7000, 12, "Returned")))
    assert (older.status_code, newer.status_code) == (200, 200)
    assert [e["outcome"] for e in stored(client)] == ["applied", "stale"]
    assert client.get("/api/parcels/31", headers=AUTH).get_json()["status"]["id"] == 12


def test_new_sqlite_files_have_no_second_key_index(
    tmp_path: Path, make_app: Callable[..., Flask]
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    make_app(real_keys_env(url))
    assert _state_autoindexes(url) == []
