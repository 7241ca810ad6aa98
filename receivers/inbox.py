"""The hot path: store a verified delivery durably, de-duplicated and ordered, in one round trip."""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from receivers import inbox_sql as q
from receivers import pg_writes
from receivers.db import Database
from receivers.held_connections import HeldConnections
from receivers.schemas import Classified
from receivers.sqlite_writes import WriterQueue, sqlite_transaction
from receivers.tables import SQLITE_DATETIME_FORMAT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """A verified delivery, ready to store."""

    event_hash: str
    body: bytes
    received_at: datetime
    key: str
    classified: Classified


@dataclass(frozen=True)
class Recorded:
    """A newly stored delivery (duplicates are not recorded again)."""

    id: int
    outcome: str


def _params(event_hash: str, c: Classified) -> dict[str, Any]:
    params: dict[str, Any] = {
        "event_hash": event_hash,
        "action": c.action,
        "event_timestamp": c.event_timestamp,
        "parcel_id": c.parcel_id,
        "integration_id": c.integration_id,
    }
    if c.parcel is not None:
        params.update(
            status_id=c.parcel.status_id,
            status_message=c.parcel.status_message,
            tracking_number=c.parcel.tracking_number,
            carrier_timestamp=c.parcel.carrier_timestamp,
        )
    if c.integration is not None:
        i = c.integration
        params.update(
            deleted=i.deleted,
            webhook_url=i.webhook_url,
            webhook_active=i.webhook_active,
            service_point_enabled=i.service_point_enabled,
            service_point_carriers=json.dumps(list(i.service_point_carriers)),
        )
    return params


def _kind(c: Classified) -> str | None:
    if c.parcel is not None:
        return "parcel"
    if c.integration is not None:
        return "integration"
    return None


def _plain_outcome(c: Classified) -> str:
    return "applied" if c.recognised else "unrecognised"


class Inbox:
    """Writes deliveries on driver connections held by this process (no pool on the hot path)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sqlite = db.is_sqlite
        self._writer: WriterQueue | None = None
        if self._sqlite:
            database = db.engine.url.database
            if database and database != ":memory:":
                self._writer = WriterQueue(Path(database + ".write-lock"))
            self._held = HeldConnections(db.engine, (sqlite3.Error,))
        else:
            self._pg_insert = {
                kind: pg_writes.Prepared.from_named(
                    f"receiver_insert_{kind or 'plain'}",
                    q.insert_with_state(kind),
                    binary=frozenset({"body"}),  # 1.5 KB as it is, not hex-escaped to 3 KB
                )
                for kind in (None, *q.UPSERT)
            }
            self._held = HeldConnections(db.engine, (psycopg.Error,), self._prepare_pg)

    def record(self, delivery: Delivery) -> Recorded | None:
        """Store `delivery` and apply it if newest; None when it was already stored."""
        c = delivery.classified
        params = _params(delivery.event_hash, c)
        params.update(signing_key=delivery.key, body=delivery.body, outcome=_plain_outcome(c))
        if self._sqlite:
            params["received_at"] = delivery.received_at.strftime(SQLITE_DATETIME_FORMAT)
            kind = _kind(c)
            return self._held.run(lambda conn: self._record_sqlite(conn, kind, params))
        params["received_at"] = delivery.received_at
        statement = self._pg_insert[_kind(c)]
        return self._held.run(lambda conn: self._record_pg(conn, statement, params))

    def reapply(self, event_id: int, event_hash: str, c: Classified) -> str:
        """Re-run the state update of a stored delivery; returns its (new) outcome."""
        params = _params(event_hash, c)
        params.update(id=event_id, outcome=_plain_outcome(c))
        kind = _kind(c)
        return self._held.run(lambda conn: self._reapply(conn, kind, params))

    def close(self) -> None:
        """Close every idle connection (app shutdown)."""
        self._held.close()
        if self._writer is not None:
            self._writer.close()

    # -- internals -------------------------------------------------------------------------

    def _record_sqlite(self, conn: Any, kind: str | None, p: dict[str, Any]) -> Recorded | None:
        # One short IMMEDIATE transaction: the write lock is taken up front and held only
        # for these few statements; the commit is the single fsync (synchronous=FULL).
        with self._queue(), sqlite_transaction(conn):
            cur = conn.execute(q.INSERT_EVENT.format(outcome=":outcome"), p)
            if cur.rowcount != 1:
                return None
            event_id = int(cur.lastrowid)
            outcome = p["outcome"]
            if kind is not None and conn.execute(q.UPSERT[kind], p).rowcount != 1:
                outcome = "stale"
                conn.execute(q.MARK_OUTCOME, {"outcome": outcome, "id": event_id})
        return Recorded(event_id, outcome)

    def _record_pg(
        self, conn: Any, statement: pg_writes.Prepared, p: dict[str, Any]
    ) -> Recorded | None:
        # Autocommit: this single statement is its own durable transaction.
        row = pg_writes.first_row(conn, statement, p)
        if row is None:
            return None  # already stored: ON CONFLICT DO NOTHING returns no row
        event_id, outcome = row
        if event_id is None or outcome is None:
            raise psycopg.DataError("the insert returned no id or outcome")
        return Recorded(int(event_id), outcome)

    def _prepare_pg(self, conn: Any) -> None:
        # Each statement commits by itself: one round trip per event.
        conn.autocommit = True
        pg_writes.prepare(conn, tuple(self._pg_insert.values()))

    def _queue(self) -> AbstractContextManager[None]:
        return self._writer.hold() if self._writer is not None else nullcontext()

    def _reapply(self, conn: Any, kind: str | None, p: dict[str, Any]) -> str:
        if self._sqlite:
            with self._queue(), sqlite_transaction(conn):
                return self._reapply_in(conn, kind, p, q.STATE_HASH, q.UPDATE_CLASSIFICATION)
        with conn.transaction():
            return self._reapply_in(
                conn,
                kind,
                p,
                {k: q.pg(v) for k, v in q.STATE_HASH.items()},
                q.pg(q.UPDATE_CLASSIFICATION),
            )

    def _reapply_in(
        self, conn: Any, kind: str | None, p: dict[str, Any], state_hash: dict[str, str], up: str
    ) -> str:
        if kind is not None:
            conn.execute(q.UPSERT[kind] if self._sqlite else q.pg(q.UPSERT[kind]), p)
            current = conn.execute(state_hash[kind], p).fetchone()
            # Applied = this delivery IS the newest state now (possibly since long ago).
            p["outcome"] = "applied" if current and current[0] == p["event_hash"] else "stale"
        conn.execute(up, p)
        return str(p["outcome"])
