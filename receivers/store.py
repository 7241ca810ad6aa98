"""Reading the durable inbox: deliveries, newest parcel and integration state, rejections."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from receivers.db import Database
from receivers.tables import (
    integration_states,
    parcel_states,
    signature_rejections,
    webhook_events,
)

# Synthetic deliveries the bootstrap sends itself; they prove reachability, not Sendcloud.
PREFLIGHT_ACTION = "bootstrap_preflight"


@dataclass(frozen=True)
class StoredEvent:
    """One stored, correctly signed delivery."""

    id: int
    action: str
    received_at: datetime
    event_timestamp: int | None
    outcome: str
    key: str
    integration_id: int | None
    parcel_id: int | None
    payload: Any
    # "webhook" (signed by Sendcloud) or "reconciliation" (read from its parcels API).
    source: str = "webhook"


@dataclass(frozen=True)
class IntegrationState:
    """The newest integration settings Sendcloud sent us (by event timestamp)."""

    integration_id: int
    event_timestamp: int
    action: str
    deleted: bool
    webhook_url: str | None
    webhook_active: bool | None
    service_point_enabled: bool | None
    service_point_carriers: tuple[str, ...]
    event_id: int | None


@dataclass(frozen=True)
class ParcelState:
    """The newest applied status of one parcel."""

    parcel_id: int
    event_timestamp: int
    carrier_timestamp: int | None
    status_id: int
    status_message: str | None
    tracking_number: str | None
    event_id: int | None


# On PostgreSQL ids are taken before commit, so a lower id can appear after a higher one; a
# gap in the ids is trusted to be permanent (a rolled-back or duplicate insert) only once the
# row after it is older than any write can take (statement timeout 5 s, plus margin).
GAP_SETTLE = timedelta(seconds=15)


def settled_prefix(db: Database, rows: Sequence[Any], after: int, now: datetime) -> int:
    """The highest id up to which `rows` (ascending ids after `after`) are final: no row with a
    lower id can still appear. SQLite has one writer, so its ids are committed in order."""
    cursor = after
    for row in rows:
        if (
            db.dialect == "postgresql"
            and row.id != cursor + 1
            and row.received_at > now - GAP_SETTLE
        ):
            break
        cursor = row.id
    return cursor


def decode_payload(body: bytes) -> Any:
    """The parsed JSON of a stored body, or its text when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return body.decode("utf-8", errors="replace")


_EVENT_COLUMNS = (
    *(webhook_events.c[name] for name in ("id", "action", "received_at", "event_timestamp")),
    *(webhook_events.c[name] for name in ("outcome", "integration_id", "parcel_id")),
    webhook_events.c.signing_key.label("key"),
    webhook_events.c.body.label("payload"),
    webhook_events.c.source,
)


def _event(row: Any) -> StoredEvent:
    return StoredEvent(**{**row._mapping, "payload": decode_payload(bytes(row.payload))})


class EventStore:
    """Queries over the stored deliveries (SQLAlchemy Core; none of this is on the hot path)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def events_received_since(self, since: datetime) -> list[StoredEvent]:
        """Deliveries received at or after `since`, oldest first, without bootstrap pre-flights."""
        query = (
            sa.select(*_EVENT_COLUMNS)
            .where(webhook_events.c.received_at >= since)
            .where(webhook_events.c.action != PREFLIGHT_ACTION)
            .order_by(webhook_events.c.id)
        )
        with self.db.begin_read() as conn:
            return [_event(row) for row in conn.execute(query)]

    def recent(self, limit: int = 50, action: str | None = None) -> list[StoredEvent]:
        """The newest `limit` deliveries, newest first, optionally of one action."""
        query = sa.select(*_EVENT_COLUMNS).order_by(webhook_events.c.id.desc()).limit(limit)
        if action:
            query = query.where(webhook_events.c.action == action)
        with self.db.begin_read() as conn:
            return [_event(row) for row in conn.execute(query)]

    def after(self, after: int, limit: int) -> tuple[list[StoredEvent], int]:
        """The pull feed: events with id > `after`, ascending, and the cursor for the next call
        (never past an event that may still appear: see settled_prefix)."""
        query = (
            sa.select(*_EVENT_COLUMNS)
            .where(webhook_events.c.id > after)
            .order_by(webhook_events.c.id)
            .limit(limit)
        )
        with self.db.begin_read() as conn:
            rows = conn.execute(query).all()
        cursor = settled_prefix(self.db, rows, after, datetime.now(UTC))
        return [_event(row) for row in rows if row.id <= cursor], cursor

    def get(self, event_id: int) -> StoredEvent | None:
        """One stored delivery by id."""
        query = sa.select(*_EVENT_COLUMNS).where(webhook_events.c.id == event_id)
        with self.db.begin_read() as conn:
            row = conn.execute(query).first()
        return _event(row) if row is not None else None

    def raw_body(self, event_id: int) -> tuple[bytes, str] | None:
        """The exact stored bytes of a delivery and its hash."""
        query = sa.select(webhook_events.c.body, webhook_events.c.event_hash).where(
            webhook_events.c.id == event_id
        )
        with self.db.begin_read() as conn:
            row = conn.execute(query).first()
        return (bytes(row.body), row.event_hash) if row is not None else None

    def latest_integration_state(self, integration_id: int) -> IntegrationState | None:
        """The newest integration settings received for `integration_id`, if any."""
        row = self._state_row(integration_states, integration_id)
        if row is None:
            return None
        carriers = tuple(json.loads(row.service_point_carriers))
        return IntegrationState(**{**row._mapping, "service_point_carriers": carriers})

    def parcel_state(self, parcel_id: int) -> ParcelState | None:
        """The newest applied status of `parcel_id`, if any."""
        row = self._state_row(parcel_states, parcel_id)
        return None if row is None else ParcelState(**row._mapping)

    def add_rejections(self, counts: Mapping[str, int]) -> None:
        """Add refused deliveries to the shared counters, one statement for all causes."""
        now = datetime.now(UTC)
        # An atomic increment, safe across workers and instances.
        table = signature_rejections
        rows = [{"cause": cause, "count": n, "last_seen_at": now} for cause, n in counts.items()]
        upsert = self.db.insert(table).values(rows)
        upsert = upsert.on_conflict_do_update(
            index_elements=[table.c.cause],
            set_={"count": table.c.count + upsert.excluded.count, "last_seen_at": now},
        )
        with self.db.begin_write() as conn:
            conn.execute(upsert)

    def rejection_counts(self) -> dict[str, int]:
        """Refused deliveries so far, by cause."""
        query = sa.select(signature_rejections.c.cause, signature_rejections.c.count)
        with self.db.begin_read() as conn:
            return {str(cause): int(count) for cause, count in conn.execute(query)}

    def _state_row(self, states: sa.Table, key: int) -> Any:
        """The row of `states` for `key`, with the id of the event that set it."""
        query = (
            sa.select(
                *(c for c in states.columns if c.name != "event_hash"),
                webhook_events.c.id.label("event_id"),
            )
            .outerjoin(webhook_events, webhook_events.c.event_hash == states.c.event_hash)
            .where(states.primary_key.columns[0] == key)
        )
        with self.db.begin_read() as conn:
            return conn.execute(query).first()
