"""The hot path's writes: a verified delivery stored once, and its state applied if it is newest.

Ordering rule (docs/receiver.md): a parcel status replaces the stored one only if
(timestamp, carrier_status_change_timestamp or -1, status id, event hash) is greater; an
integration state only if (timestamp, deleted, event hash) is greater, so at an equal timestamp
a deletion wins. Equal tuples mean the same event, so a redelivery or a replay never changes
anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa

from receivers.db import Database, translated
from receivers.schemas import Classified
from receivers.tables import integration_states, parcel_states, webhook_events

_STATES: dict[str, tuple[sa.Table, Callable[[Any], Sequence[Any]]]] = {
    "parcel": (
        parcel_states,
        lambda c: (c.event_timestamp, sa.func.coalesce(c.carrier_timestamp, -1), c.status_id),
    ),
    "integration": (integration_states, lambda c: (c.event_timestamp, c.deleted)),
}


def _binds(table: sa.Table) -> dict[str, Any]:
    return {c.name: sa.bindparam(c.name, type_=c.type) for c in table.columns if c.name != "id"}


def _upsert_state(db: Database, kind: str) -> Any:
    """Insert or replace the state row, only when the delivery's ordering tuple is greater."""
    table, order = _STATES[kind]
    key = table.primary_key.columns[0]
    stmt = db.insert(table).values(_binds(table))
    new, old = stmt.excluded, table.c
    # In the statement, so concurrent deliveries for one parcel cannot both win.
    return stmt.on_conflict_do_update(
        index_elements=[key],
        set_={c.name: new[c.name] for c in table.columns if c is not key},
        where=sa.tuple_(*order(new), new.event_hash) > sa.tuple_(*order(old), old.event_hash),
    )


def _insert_event(db: Database, outcome: Any) -> Any:
    """Insert-or-ignore on the body hash; no row back means the delivery was stored before."""
    events = webhook_events.c
    return (
        db.insert(webhook_events)
        .values({**_binds(webhook_events), "outcome": outcome})
        .on_conflict_do_nothing(index_elements=[events.event_hash])
        .returning(events.id, events.outcome)
    )


def _params(event_hash: str, c: Classified) -> dict[str, Any]:
    return {
        "event_hash": event_hash,
        "action": c.action,
        "event_timestamp": c.event_timestamp,
        "parcel_id": c.parcel_id,
        "integration_id": c.integration_id,
        "outcome": "applied" if c.recognised else "unrecognised",
        **c.state,
    }


class Inbox:
    """Stores deliveries with SQLAlchemy Core statements built once per database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._upsert = {kind: _upsert_state(db, kind) for kind in _STATES}
        self._insert = _insert_event(db, sa.bindparam("outcome", type_=sa.String))
        if db.autocommit is not None:
            self._autocommit = db.autocommit
            # PostgreSQL: the state upsert (a data-modifying CTE) and the insert are ONE
            # autocommit statement, one round trip; the delivery row gets its final outcome.
            self._in_one: dict[str | None, Any] = {None: self._insert}
            for kind, upsert in self._upsert.items():
                applied = sa.exists(upsert.returning(sa.literal(1)).cte(f"up_{kind}").select())
                outcome = sa.case((applied, "applied"), else_="stale")
                self._in_one[kind] = _insert_event(db, outcome)

    def record(self, event_hash: str, c: Classified, **row: Any) -> tuple[int, str] | None:
        """Store a delivery (`row`: received_at, signing_key, body, source?), durably, applied if
        newest: its id and outcome, or None when it was already stored."""
        params = _params(event_hash, c) | {"source": "webhook"} | row
        kind = c.kind
        if self.db.dialect == "sqlite":
            # One short IMMEDIATE transaction; begin_write syncs the WAL after it.
            with self.db.begin_write() as conn:
                if kind and conn.execute(self._upsert[kind], params).rowcount != 1:
                    params["outcome"] = "stale"
                found = conn.execute(self._insert, params).first()
        else:
            with self.db.noting_writes(), translated():
                found = self._run_once_more_if_dropped(self._in_one[kind], params)
        return None if found is None else (found.id, found.outcome)

    def _run_once_more_if_dropped(self, statement: Any, params: dict[str, Any]) -> Any:
        """Its first row; a connection found dead (no pre-ping here) gets one more try."""
        for attempt in (1, 2):
            with self._autocommit.connect() as conn:
                try:
                    return conn.execute(statement, params).first()
                except sa.exc.DBAPIError as exc:
                    if attempt == 2:
                        raise
                    if isinstance(exc.orig, psycopg.errors.InvalidSqlStatementName):
                        # A transaction-mode pooler moved us to a server connection that
                        # never saw psycopg's prepare: run unprepared on this one from now.
                        conn.connection.driver_connection.prepare_threshold = None  # type: ignore[union-attr]
                    elif not exc.connection_invalidated:
                        raise
        raise AssertionError("unreachable")

    def reapply(self, event_id: int, event_hash: str, c: Classified) -> str:
        """Re-run the state update of a stored delivery; returns its (new) outcome."""
        params = _params(event_hash, c)
        kind = c.kind
        with self.db.begin_write() as conn:
            if kind:
                table, _ = _STATES[kind]
                key = table.primary_key.columns[0]
                conn.execute(self._upsert[kind], params)
                newest = conn.execute(
                    sa.select(table.c.event_hash).where(key == params[key.name])
                ).scalar()
                # Applied = this delivery IS the newest state now (possibly since long ago).
                params["outcome"] = "applied" if newest == event_hash else "stale"
            columns = ("action", "event_timestamp", "integration_id", "parcel_id", "outcome")
            conn.execute(
                sa.update(webhook_events)
                .where(webhook_events.c.id == event_id)
                .values({name: params[name] for name in columns})
            )
        return str(params["outcome"])
