"""Schema upgrades are idempotent and safe when several processes start at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from receivers.db import Database

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


def test_sqlite_is_wal_and_fully_synchronous(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'durable.sqlite3'}")
    with db.begin_read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    db.dispose()


def test_postgresql_commits_synchronously(pg_url: str) -> None:
    db = Database(pg_url)
    with db.begin_read() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    db.dispose()
