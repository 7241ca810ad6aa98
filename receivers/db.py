"""The SQLAlchemy Core engine, Alembic upgrades (one branch per package, safe when many
processes start at once) and small storage primitives."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from receivers.engines import WalFile, postgresql_engine, sqlite_engine
from receivers.errors import InvalidValue, StorageUnavailable
from receivers.tables import stored_values

log = logging.getLogger(__name__)
# Alembic logs "Context impl …" at INFO on every start and CLI command; our own
# schema_upgraded line says what changed.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

# /readyz: a probe write at most this often per process; a failed write keeps it 503 this long.
PROBE_SECONDS = 10.0

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


# Driver error codes (SQLite's names, PostgreSQL's SQLSTATE prefixes) in plain words.
_CAUSES = {
    "the disk is full": ("SQLITE_FULL", "53100"),
    "the database is read-only": ("SQLITE_READONLY", "25006"),
    "a lock or a query outlasted the deadline": ("SQLITE_BUSY", "55P03", "57014"),
    "a disk read or write failed": ("SQLITE_IOERR",),
    "the database file cannot be opened": ("SQLITE_CANTOPEN",),
    "the connection to the database was lost or refused": ("08",),
    "the database server is out of resources": ("53",),
    "the database server is shutting down or restarting": ("57P",),
}


def cause(exc: SQLAlchemyError) -> str:
    """What went wrong in plain words, and the driver's code (its message may quote values)."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)
    detail = code or type(orig if orig is not None else exc).__name__
    for words, codes in _CAUSES.items():
        if code and code.startswith(codes):
            return f"{words} ({detail})"
    if isinstance(exc, sa.exc.OperationalError):
        return f"the connection to the database was lost or refused ({detail})"
    if isinstance(exc, sa.exc.TimeoutError):
        return "no database connection became free within the deadline"
    return f"the database failed ({detail})"


@contextmanager
def translated() -> Iterator[None]:
    """SQLAlchemy's errors as InvalidValue (a value refused: a 400) or StorageUnavailable."""
    try:
        yield
    except sa.exc.DataError as exc:
        raise InvalidValue(f"the database refused a value of this request ({cause(exc)})") from exc
    except SQLAlchemyError as exc:
        raise StorageUnavailable(f"the database is unavailable: {cause(exc)}") from exc


class Database:
    """An engine plus the few storage operations every package needs."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        self._wal: WalFile | None = None
        # The hot path's pool on PostgreSQL (receivers/inbox.py); SQLite's is `engine`.
        self.autocommit: Engine | None = None
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                self._wal = WalFile(Path(parsed.database))
            self.engine = sqlite_engine(self.url)
        else:
            # pool_pre_ping: a connection that died while idle is replaced at checkout. No
            # server-side prepares: through a transaction-mode pooler the next statement may
            # run on a server connection that never saw them.
            self.engine = postgresql_engine(
                self.url, prepare_threshold=None, pool_pre_ping=True, pool_size=5, max_overflow=5
            )
            # One statement is one transaction and one round trip (so nothing to roll back on
            # return); psycopg prepares it after its 5th use. No pre-ping: that statement is
            # idempotent, so the inbox runs it once more on a connection found dead instead
            # (both measured: docs/performance.md).
            self.autocommit = postgresql_engine(
                self.url,
                prepare_threshold=5,
                isolation_level="AUTOCOMMIT",
                pool_reset_on_return=None,
                pool_size=2,
            )
        self.schema_ready = False  # True once `upgrade` has succeeded in this process
        self.last_write_failure: tuple[float, str] | None = None
        self._probed_at = -PROBE_SECONDS

    def dispose(self) -> None:
        """Close every pooled connection and file (tests, and after fork in gunicorn)."""
        self.engine.dispose()
        if self.autocommit is not None:
            self.autocommit.dispose()
        if self._wal is not None:
            self._wal.close()

    @contextmanager
    def noting_writes(self) -> Iterator[None]:
        """Remember whether the writes in this block failed (readiness sees what they see)."""
        try:
            yield
        except StorageUnavailable as exc:
            self.last_write_failure = (time.monotonic(), str(exc))
            raise
        self.last_write_failure = None

    def check_ready(self) -> None:
        """Raise StorageUnavailable unless a read answers and writes work: no recent failed
        write, and a probe write (at most one per PROBE_SECONDS however often this is asked)."""
        with self.begin_read() as conn:
            conn.execute(sa.text("SELECT 1"))
        now, failed = time.monotonic(), self.last_write_failure
        if failed is not None and now - failed[0] < PROBE_SECONDS:
            raise StorageUnavailable(failed[1])
        if failed is not None or now - self._probed_at >= PROBE_SECONDS:
            self._probed_at = now
            probe = self.insert(stored_values).values(name="readiness_probe", value=str(now))
            with self.begin_write() as conn:
                conn.execute(
                    probe.on_conflict_do_update(index_elements=["name"], set_=probe.excluded)
                )

    @contextmanager
    def begin_write(self) -> Iterator[Connection]:
        """A write transaction, on disk when the block ends; SQLite takes its write lock first."""
        with self.noting_writes(), translated(), self.engine.connect() as conn:
            with conn.execution_options(sqlite_begin="IMMEDIATE").begin():
                yield conn
            if self._wal is not None:
                # Group commit: the lock is released, the commit not yet on disk (docs/receiver.md).
                self._wal.sync()

    @contextmanager
    def begin_read(self) -> Iterator[Connection]:
        """A read transaction."""
        with translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    def upgrade(self, locations: Sequence[Path]) -> list[str]:
        """Apply (and return) the missing revisions of every branch, once however many call."""
        config = _alembic_config(tuple(locations))
        with self.begin_write() as conn:
            if self.dialect == "postgresql":
                # Transaction-scoped: released by the commit, even if this process dies.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _UPGRADE_LOCK_KEY})
            before = set(MigrationContext.configure(conn).get_current_heads())
            if before != _heads(tuple(locations)):
                config.attributes["connection"] = conn
                command.upgrade(config, "heads")
            after = set(MigrationContext.configure(conn).get_current_heads())
        self.schema_ready = True
        applied = sorted(after - before)
        if applied:
            log.info("schema_upgraded heads=%s", ",".join(applied))
        return applied

    def insert(self, table: sa.Table) -> Any:
        """This dialect's INSERT, which has `on_conflict_do_nothing/do_update`."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def insert_ignore(self, table: sa.Table) -> Any:
        """An INSERT that silently skips rows whose unique key already exists (one statement)."""
        return self.insert(table).on_conflict_do_nothing()

    def stored_value(self, name: str, make: Callable[[], str]) -> str:
        """Return the value stored under `name`, creating it with `make()` if nobody has yet."""
        query = sa.select(stored_values.c.value).where(stored_values.c.name == name)
        with self.begin_read() as conn:
            found = conn.execute(query).scalar_one_or_none()
        if found is not None:
            return str(found)
        with self.begin_write() as conn:
            conn.execute(self.insert_ignore(stored_values).values(name=name, value=make()))
            return str(conn.execute(query).scalar_one())


def _alembic_config(locations: tuple[Path, ...]) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(map(str, locations)))
    return config


@functools.cache
def _heads(locations: tuple[Path, ...]) -> frozenset[str]:
    # Reading the revision files costs tens of milliseconds: once per process.
    return frozenset(ScriptDirectory.from_config(_alembic_config(locations)).get_heads())
