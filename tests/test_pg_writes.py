"""The PostgreSQL hot path's libpq layer: placeholders, encoding, and running without a prepare."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from receivers import pg_writes
from receivers.pg_writes import Prepared

INSERT = Prepared.from_named(
    "test_insert",
    "INSERT INTO t (k, n, flag, note, at, raw) VALUES (:k, :n, :flag, :note, :at, :raw) "
    "ON CONFLICT (k) DO NOTHING RETURNING k, n::text, flag, note, at, raw",
    binary=frozenset({"raw"}),
)


def test_named_placeholders_become_numbered_ones_once_each() -> None:
    statement = Prepared.from_named("s", "SELECT :a, :b::int, :a, '12:30'::text")
    assert statement.sql == b"SELECT $1, $2::int, $1, '12:30'::text"
    assert statement.params == ("a", "b")
    assert INSERT.formats == (0, 0, 0, 0, 0, 1)


def test_values_are_encoded_in_postgresql_text_format() -> None:
    assert pg_writes.encode(None) is None
    assert pg_writes.encode(b"\x00\xff") == b"\x00\xff"
    assert pg_writes.encode(True) == b"t"
    assert pg_writes.encode(False) == b"f"
    assert pg_writes.encode(-(2**63)) == b"-9223372036854775808"
    assert pg_writes.encode("caf\u00e9") == "caf\u00e9".encode()
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
    assert pg_writes.encode(at) == b"2026-01-02T03:04:05.000006+02:00"
    with pytest.raises(TypeError, match="naive"):
        pg_writes.encode(datetime(2026, 1, 2))  # noqa: DTZ001 (the naive value under test)
    with pytest.raises(TypeError, match="float"):
        pg_writes.encode(1.5)


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE t (k text PRIMARY KEY, n bigint, flag boolean, note text, "
            "at timestamptz, raw bytea)"
        )
        pg_writes.prepare(connection, (INSERT,))
        yield connection


def _values(key: str) -> dict[str, Any]:
    return {
        "k": key,
        "n": 2**63 - 1,
        "flag": False,
        "note": "Zugestellt \u2013 \u00fcbergeben \U0001f4e6",
        "at": datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC),
        "raw": bytes(range(256)),
    }


def test_a_row_round_trips_exactly(conn: psycopg.Connection[Any]) -> None:
    row = pg_writes.first_row(conn, INSERT, _values("a"))
    assert row is not None
    assert row[:4] == ("a", str(2**63 - 1), "f", "Zugestellt \u2013 \u00fcbergeben \U0001f4e6")
    stored = conn.execute("SELECT at, raw FROM t WHERE k = 'a'").fetchone()
    assert stored == (_values("a")["at"], bytes(range(256)))
    # ON CONFLICT DO NOTHING returns no row: the caller's "already stored".
    assert pg_writes.first_row(conn, INSERT, _values("a")) is None


def test_a_statement_missing_on_the_server_connection_still_runs(
    conn: psycopg.Connection[Any],
) -> None:
    # What a transaction-mode pooler does: the next server connection never saw the prepare.
    assert not pg_writes.runs_unprepared(conn)
    conn.execute("DEALLOCATE ALL")
    assert pg_writes.first_row(conn, INSERT, _values("b")) is not None
    # It does not try (and fail) the prepared statement first on every later delivery.
    assert pg_writes.runs_unprepared(conn)
    assert pg_writes.first_row(conn, INSERT, _values("b2")) is not None
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_a_failing_statement_raises_a_driver_error(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.Error):
        pg_writes.first_row(conn, INSERT, {**_values("c"), "k": None})  # NOT NULL key
    assert pg_writes.first_row(conn, INSERT, _values("c")) is not None  # still usable
