"""The SQLAlchemy Core engine, versioned schema upgrades and small storage primitives.

Each package declares its own tables and `Migration`s; `Database.upgrade` applies the
missing ones, safely when several workers or instances start at the same moment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from receivers.errors import StorageUnavailable
from receivers.migrations import Migration, schema_versions, stored_values

log = logging.getLogger(__name__)

# Arbitrary but fixed: every instance of the service serialises schema upgrades on it.
_UPGRADE_LOCK_KEY = 0x5E9DC10D


def normalise_url(url: str) -> str:
    """Accept Heroku's `postgres://` and plain `postgresql://`, and use psycopg 3 for both."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def url_problem(url: str) -> str | None:
    """Describe what is wrong with a database URL in plain words, or return None."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        return "DATABASE_URL is not a database URL (expected postgresql://… or sqlite:///…)"
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        return (
            f"DATABASE_URL uses {parsed.get_backend_name()!r}; "
            "only PostgreSQL and SQLite are supported"
        )
    return None


class Database:
    """An engine plus the few storage operations every package needs."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(self.url, connect_args={"timeout": 30})
            _configure_sqlite(self.engine)
        else:
            self.engine = sa.create_engine(
                self.url,
                pool_size=5,
                max_overflow=5,
                pool_timeout=5,
                # No automatic server-side prepares outside the hot path (which handles its
                # own, receivers/pg_writes.py): through a transaction-mode pooler the next
                # statement may run on a server connection that never saw them.
                connect_args={"connect_timeout": 5, "prepare_threshold": None},
            )
            _configure_postgresql(self.engine)
        self._schema_ready = False

    @property
    def is_sqlite(self) -> bool:
        """True when the store is a SQLite file."""
        return self.dialect == "sqlite"

    def dispose(self) -> None:
        """Close every pooled connection (tests, and after fork in gunicorn)."""
        self.engine.dispose()

    @contextmanager
    def begin_write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock up front (no upgrade deadlock)."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StorageUnavailable(_describe(exc)) from exc

    @contextmanager
    def begin_read(self) -> Iterator[Connection]:
        """A read transaction."""
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise StorageUnavailable(_describe(exc)) from exc

    def ping(self) -> None:
        """Raise StorageUnavailable unless the database answers and the schema is in place."""
        with self.begin_read() as conn:
            conn.execute(sa.text("SELECT 1"))

    def upgrade(self, migrations: Sequence[Migration]) -> list[str]:
        """Apply the missing migrations once, even when many processes call this at once."""
        applied: list[str] = []
        with self.begin_write() as conn:
            if self.dialect == "postgresql":
                # Transaction-scoped: released by the commit, even if this process dies.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _UPGRADE_LOCK_KEY})
            schema_versions.create(conn, checkfirst=True)
            current: dict[str, int] = {
                row.component: row.version
                for row in conn.execute(
                    sa.select(schema_versions.c.component, schema_versions.c.version)
                )
            }
            for step in sorted(migrations, key=lambda m: (m.component, m.version)):
                have = current.get(step.component, 0)
                if step.version <= have:
                    continue
                if step.version != have + 1:
                    raise StorageUnavailable(
                        f"schema migration {step.component} v{step.version} is out of order "
                        f"(database is at v{have})"
                    )
                step.apply(conn)
                if have == 0:
                    conn.execute(
                        schema_versions.insert().values(
                            component=step.component, version=step.version
                        )
                    )
                else:
                    conn.execute(
                        schema_versions.update()
                        .where(schema_versions.c.component == step.component)
                        .values(version=step.version)
                    )
                current[step.component] = step.version
                applied.append(f"{step.component} v{step.version}")
        self._schema_ready = True
        if applied:
            log.info("schema_upgraded steps=%s", ",".join(applied))
        return applied

    @property
    def schema_ready(self) -> bool:
        """True once `upgrade` has succeeded in this process."""
        return self._schema_ready

    def insert_ignore(self, table: sa.Table) -> Any:
        """An INSERT that silently skips rows whose unique key already exists (one statement)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()

    def stored_value(self, name: str, make: Callable[[], str]) -> str:
        """Return the value stored under `name`, creating it with `make()` if nobody has yet."""
        with self.begin_read() as conn:
            found = conn.execute(
                sa.select(stored_values.c.value).where(stored_values.c.name == name)
            ).scalar_one_or_none()
        if found is not None:
            return str(found)
        with self.begin_write() as conn:
            conn.execute(self.insert_ignore(stored_values).values(name=name, value=make()))
            return str(
                conn.execute(
                    sa.select(stored_values.c.value).where(stored_values.c.name == name)
                ).scalar_one()
            )


def _describe(exc: SQLAlchemyError) -> str:
    """Plain words for a storage failure, without the SQL or parameters (they may hold payloads)."""
    orig = getattr(exc, "orig", None)
    detail = type(orig).__name__ if orig is not None else type(exc).__name__
    return f"the database is unavailable ({detail})"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before we acknowledge a webhook (survives power loss).
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        # IMMEDIATE for writers: a deferred transaction that later wants to write can fail
        # with "database is locked" without waiting; IMMEDIATE waits for the lock instead.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # A commit must be flushed to disk before we acknowledge a webhook, whatever the
        # server or database default says.
        previous = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO on")
            # The hot path encodes its text parameters as UTF-8 itself (receivers/pg_writes.py).
            cursor.execute("SET client_encoding TO 'UTF8'")
        dbapi_connection.autocommit = previous
