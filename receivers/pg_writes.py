"""PostgreSQL writes on the hot path: server-side prepared statements run through libpq.

psycopg's `execute` adapts every parameter through its adapter registry, rewrites the query
and manages its own prepared-statement cache: about 110 µs of CPU per delivery here, twice
the ~50 µs of the libpq call itself (README, receiver benchmark). The hot path's few
parameter types are known, so each connection prepares the statements once and every
delivery is one prepared statement (one round trip, autocommit) with its values encoded here,
and its answer is awaited with a deadline. Everything else keeps using psycopg and SQLAlchemy
normally.
"""

from __future__ import annotations

import re
import select
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import pq

from receivers.inbox_sql import NAMED_PARAMETER

_TEXT, _BINARY = 0, 1
_NO_SUCH_STATEMENT = b"26000"  # SQLSTATE invalid_sql_statement_name

# A delivery's statement answers in milliseconds. A server that takes the query and never
# answers (paused, or a network path that drops the replies) must not hold the worker until
# gunicorn kills it (30 s) and the sender sees a reset: after this the connection is dropped,
# the caller retries once on a fresh one (connect_timeout bounds that), then answers 503.
ANSWER_TIMEOUT_S = 5.0

# Connections on which a prepared statement went missing (see first_row).
_behind_pooler: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


@dataclass(frozen=True)
class Prepared:
    """One statement: its server-side name, `$n` SQL and the parameter names in `$n` order."""

    name: bytes
    sql: bytes
    params: tuple[str, ...]
    formats: tuple[int, ...]

    @classmethod
    def from_named(cls, name: str, sql: str, binary: frozenset[str] = frozenset()) -> Prepared:
        """Turn `:name` placeholders into `$1…$n`; `binary` names are sent as raw bytes."""
        order: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in order:
                order.append(match.group(1))
            return f"${order.index(match.group(1)) + 1}"

        positional = NAMED_PARAMETER.sub(number, sql)
        formats = tuple(_BINARY if p in binary else _TEXT for p in order)
        return cls(name.encode(), positional.encode(), tuple(order), formats)


def encode(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format; bytes pass through (name them `binary`)."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bool):  # before int: bool is an int
        return b"t" if value else b"f"
    if isinstance(value, int | str):
        return str(value).encode()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetimes are not stored (no time zone)")
        return value.isoformat().encode()
    raise TypeError(f"cannot send a {type(value).__name__} parameter")


def prepare(conn: psycopg.Connection[Any], statements: tuple[Prepared, ...]) -> None:
    """Prepare `statements` on a fresh connection (parameter types inferred by the server)."""
    for statement in statements:
        conn.pgconn.send_prepare(statement.name, statement.sql)
        _check(_answer(conn.pgconn), pq.ExecStatus.COMMAND_OK)


def runs_unprepared(conn: psycopg.Connection[Any]) -> bool:
    """True once `conn` was found behind a pooler that loses prepared statements."""
    return conn in _behind_pooler


def first_row(
    conn: psycopg.Connection[Any], statement: Prepared, values: Mapping[str, Any]
) -> tuple[str | None, ...] | None:
    """Execute a prepared statement (one round trip); its first row as text, if any."""
    encoded = [encode(values.get(p)) for p in statement.params]
    pgconn = conn.pgconn
    result = None
    if conn not in _behind_pooler:
        pgconn.send_query_prepared(statement.name, encoded, statement.formats)
        result = _answer(pgconn)
        if result.error_field(pq.DiagnosticField.SQLSTATE) == _NO_SUCH_STATEMENT:
            # Not prepared on this server connection: a pooler in transaction mode (PgBouncer
            # before 1.21, or without max_prepared_statements) hands out other server
            # connections. From now on this connection runs its statements unprepared
            # (parsed each time, still one round trip) instead of failing first every time.
            _behind_pooler.add(conn)
            result = None
    if result is None:
        pgconn.send_query_params(statement.sql, encoded, None, statement.formats)
        result = _answer(pgconn)
    _check(result, pq.ExecStatus.TUPLES_OK)
    if result.ntuples == 0:
        return None
    cells = (result.get_value(0, col) for col in range(result.nfields))
    return tuple(None if cell is None else cell.decode() for cell in cells)


def _answer(pgconn: pq.abc.PGconn) -> pq.abc.PGresult:
    """The result of the query just sent, waiting at most ANSWER_TIMEOUT_S for it."""
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while pgconn.is_busy():
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([pgconn.socket], [], [], left)[0]:
            raise psycopg.OperationalError(
                f"the database did not answer within {ANSWER_TIMEOUT_S:g} s"
            )
        pgconn.consume_input()
    result = pgconn.get_result()
    if result is None:
        raise psycopg.OperationalError("the database sent no result")
    while pgconn.get_result() is not None:  # the protocol ends each query with a null result
        pass
    return result


def _check(result: pq.abc.PGresult, *expected: int) -> None:
    if result.status in expected:
        return
    # The message may quote values; callers log and show only the exception's type.
    message = (result.error_message or b"").decode(errors="replace").strip()
    status = pq.ExecStatus(result.status).name
    raise psycopg.OperationalError(message or f"unexpected result {status}")
