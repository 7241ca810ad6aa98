"""How each store's engine is set up: durability, the deadline on every wait, the pools."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from receivers import watchdog
from receivers.errors import StorageUnavailable


def sqlite_engine(url: str) -> Engine:
    """SQLite in WAL mode, commits synced by WalFile, writers taking the lock first."""
    # No pre-ping: a SQLite connection is an open file, it cannot die while idle.
    engine = sa.create_engine(url)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def postgresql_engine(url: str, prepare_threshold: int | None, **options: Any) -> Engine:
    """PostgreSQL through psycopg, every wait bounded (receivers/watchdog.py)."""
    timeout = watchdog.QUERY_TIMEOUT_S
    engine = sa.create_engine(
        url,
        pool_timeout=timeout,
        connect_args={
            "connect_timeout": max(2, round(timeout)),  # psycopg's minimum is 2 s
            "prepare_threshold": prepare_threshold,
        },
        **options,
    )
    event.listen(engine, "do_connect", watchdog.connect)
    event.listen(engine, "connect", _postgresql_connect)
    return engine


class WalFile:
    """The write-ahead log of a SQLite file, synced by whoever needs their commit on disk."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-wal")
        self._fd: int | None = None
        self._lock = threading.Lock()  # threads of one process share the fd

    def sync(self) -> None:
        """fdatasync the WAL: every commit written to it so far, by any process, is on disk."""
        try:
            with self._lock:
                # Holding the fd keeps its inode from being reused, so a new WAL file (after
                # the last connection closed and SQLite deleted it) is always noticed.
                if self._fd is None or os.stat(self.path).st_ino != os.fstat(self._fd).st_ino:
                    self.close()
                    self._fd = os.open(self.path, os.O_RDONLY)
                    # A new file's directory entry must reach the disk too, once.
                    directory = os.open(self.path.parent, os.O_RDONLY)
                    try:
                        os.fsync(directory)
                    finally:
                        os.close(directory)
                os.fdatasync(self._fd)
        except OSError as exc:
            problem = f"the database file cannot be synced ({exc.strerror})"
            raise StorageUnavailable(problem) from exc

    def close(self) -> None:
        """Let go of the file (the next sync opens it again)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _timeout_ms() -> int:
    return int(watchdog.QUERY_TIMEOUT_S * 1000)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so BEGIN is ours (see below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # The bound on a busy database: waiting for another writer's lock.
    cursor.execute(f"PRAGMA busy_timeout = {_timeout_ms()}")
    cursor.execute("PRAGMA journal_mode = WAL")
    # NORMAL: a commit does not fsync; Database.begin_write syncs the WAL after the lock is
    # released, so the writers' fsyncs overlap and each covers all commits before it.
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE for writers: a deferred transaction that later wants to write can fail
    # with "database is locked" without waiting; IMMEDIATE waits for the lock instead.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _postgresql_connect(dbapi_connection: Any, _record: Any) -> None:
    # Durable before acknowledged, whatever the server's default; a live server stops a
    # statement or a lock wait itself after the deadline (a silent one: receivers/watchdog.py).
    previous = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    with dbapi_connection.cursor() as cursor:
        cursor.execute(
            "SET synchronous_commit TO on; "
            f"SET statement_timeout TO {_timeout_ms()}; SET lock_timeout TO {_timeout_ms()}"
        )
    dbapi_connection.autocommit = previous
