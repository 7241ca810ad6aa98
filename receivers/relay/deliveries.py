"""Deliveries: fan-out of stored events by cursor, claims by lease, results, retention
(order per parcel, leases and SKIP LOCKED claims: docs/relay.md, "Guarantees")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from receivers.db import Database
from receivers.relay.destinations import Destination, NotFound, dest_update
from receivers.relay.settings import DISABLE_AFTER_SECONDS, RelaySettings
from receivers.relay.tables import relay_deliveries, relay_destinations
from receivers.store import PREFLIGHT_ACTION, decode_payload, settled_prefix
from receivers.tables import webhook_events

# Longer than a batch of sends can take (they run in parallel, each with a 15 s timeout).
LEASE = timedelta(seconds=60)
FAN_OUT_BATCH = 500
OPEN = ("pending", "retrying")

d, e, dest = relay_deliveries.c, webhook_events.c, relay_destinations.c


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to this process: its message id, attempts so far and body."""

    id: int
    webhook_id: str
    log: list[dict[str, Any]]
    body: str


@dataclass(frozen=True)
class Result:
    """What one attempt gave."""

    claimed: Claimed
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        """2xx means delivered."""
        return self.status_code is not None and 200 <= self.status_code < 300


def envelope(action: str, received_at: datetime, payload: Any, source: str) -> str:
    """The Standard Webhooks body: the Sendcloud action, when it arrived, its payload."""
    body = {"type": action, "timestamp": received_at.isoformat(), "data": payload}
    return json.dumps(body | ({"source": source} if source != "webhook" else {}))


class Deliveries:
    """The delivery rows and the relay's storage steps."""

    def __init__(self, db: Database, settings: RelaySettings) -> None:
        self.db = db
        self.settings = settings

    def fan_out(self, destination: Destination) -> int:
        """Make deliveries of the events stored after the destination's cursor; returns how many
        events were read."""
        now = datetime.now(UTC)
        lock = sa.select(dest.cursor).where(dest.id == destination.id, dest.enabled)
        with self.db.begin_write() as conn:
            # One relay process fans a destination out at a time; the others skip it.
            cursor = conn.execute(lock.with_for_update(skip_locked=True)).scalar_one_or_none()
            if cursor is None:
                return 0
            columns = (e.id, e.action, e.outcome, e.parcel_id, e.received_at, e.event_hash)
            query = sa.select(*columns).where(e.id > cursor).order_by(e.id).limit(FAN_OUT_BATCH)
            rows = conn.execute(query).all()
            wanted = [
                {
                    "destination_id": destination.id,
                    "event_id": row.id,
                    "parcel_id": row.parcel_id,
                    "webhook_id": f"msg_{row.event_hash[:32]}",
                    "state": "pending",
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for row in rows
                if row.action != PREFLIGHT_ACTION and destination.wants(row.action, row.outcome)
            ]
            if wanted:
                conn.execute(self.db.insert_ignore(relay_deliveries), wanted)
            if (settled := settled_prefix(self.db, rows, cursor, now)) != cursor:
                conn.execute(dest_update(destination.id).values(cursor=settled))
        return len(rows)

    def claim(self, destination_id: int, limit: int, one: int | None = None) -> list[Claimed]:
        """Lease up to `limit` due deliveries of a destination (or just the delivery `one`)."""
        now = datetime.now(UTC)
        earlier = relay_deliveries.alias("earlier")
        # The parcel's oldest open event, as min() over the parcel index: PostgreSQL reads it
        # with one index probe per candidate (an anti-join was planned as a nested loop).
        oldest_open = sa.select(sa.func.min(earlier.c.event_id)).where(
            earlier.c.destination_id == d.destination_id,
            earlier.c.parcel_id == d.parcel_id,
            earlier.c.state.in_(OPEN),
        )
        first_of_parcel = sa.or_(d.parcel_id.is_(None), d.event_id <= oldest_open.scalar_subquery())
        query = sa.select(d.id).where(
            d.destination_id == destination_id,
            sa.or_(d.claimed_until.is_(None), d.claimed_until < now),
            *(
                [d.id == one, d.state != "delivered"]
                if one is not None
                else [d.state.in_(OPEN), d.next_attempt_at <= now, first_of_parcel]
            ),
        )
        query = query.order_by(d.event_id, d.id).limit(limit).with_for_update(skip_locked=True)
        columns = (d.id, d.webhook_id, d.log, d.body, e.action, e.received_at, e.source)
        with self.db.begin_write() as conn:
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            conn.execute(delivery_update(d.id.in_(ids)).values(claimed_until=now + LEASE))
            rows = conn.execute(
                sa.select(*columns, e.body.label("event_body"))
                .outerjoin(webhook_events, e.id == d.event_id)
                .where(d.id.in_(ids))
                .order_by(d.event_id, d.id)
            ).all()
        return [
            Claimed(
                row.id,
                row.webhook_id,
                json.loads(row.log),
                bytes(row.body).decode()  # a test delivery
                if row.body is not None
                else envelope(
                    row.action, row.received_at, decode_payload(row.event_body), row.source
                ),
            )
            for row in rows
        ]

    def record(self, destination: Destination, results: list[Result]) -> bool:
        """Store attempts and next steps; returns True when the destination was just disabled."""
        if not results:
            return False
        now = datetime.now(UTC)
        updates = []
        for r in results:
            delay = None if r.ok else self.settings.delay(len(r.claimed.log) + 1)
            attempt = {"at": now.isoformat(), "status_code": r.status_code}
            attempt |= {"latency_ms": r.latency_ms, "error": r.error}
            updates.append(
                {
                    "b_id": r.claimed.id,
                    "b_state": "delivered" if r.ok else "failed" if delay is None else "retrying",
                    "b_log": json.dumps([*r.claimed.log, attempt]),
                    "b_next": now + timedelta(seconds=delay or 0),
                }
            )
        by_row = delivery_update(d.id == sa.bindparam("b_id")).values(
            state=sa.bindparam("b_state"),
            log=sa.bindparam("b_log"),
            next_attempt_at=sa.bindparam("b_next"),
            claimed_until=None,
        )
        with self.db.begin_write() as conn:
            conn.execute(by_row, updates)
            return self._track_failing(conn, destination.id, any(r.ok for r in results), now)

    def _track_failing(self, conn: Any, destination_id: int, ok: bool, now: datetime) -> bool:
        """Note when a destination started failing everything; disable it after 5 days."""
        since = conn.execute(sa.select(dest.failing_since).where(dest.id == destination_id))
        since = since.scalar_one_or_none()
        if ok or since is None:
            conn.execute(dest_update(destination_id).values(failing_since=None if ok else now))
            return False
        # Scaled with the retry schedule, so tests can compress it too.
        if (now - since).total_seconds() < DISABLE_AFTER_SECONDS * self.settings.retry_scale:
            return False
        reason = f"disabled: every delivery failed since {since:%Y-%m-%d %H:%M} UTC"
        conn.execute(dest_update(destination_id).values(enabled=False, disabled_reason=reason))
        return True

    def add_test(self, destination_id: int) -> int:
        """A signed `test_webhook` delivery to one destination (not a stored event)."""
        now = datetime.now(UTC)
        payload = {"action": "test_webhook", "timestamp": int(now.timestamp() * 1000)}
        body = envelope("test_webhook", now, payload, "relay_test").encode()
        row = {
            "destination_id": destination_id,
            "webhook_id": f"msg_test_{now.timestamp():.6f}",
            "state": "pending",
            "next_attempt_at": now,
            "created_at": now,
            "body": body,
        }
        with self.db.begin_write() as conn:
            return int(
                conn.execute(relay_deliveries.insert().values(row).returning(d.id)).scalar_one()
            )

    def retry(self, delivery_id: int) -> int:
        """Make a delivery due now; returns its destination. The schedule counts the attempts
        in its log, so a failed delivery retried by hand that fails again is failed again."""
        due = delivery_update(d.id == delivery_id).values(
            state="retrying", next_attempt_at=datetime.now(UTC)
        )
        with self.db.begin_write() as conn:
            found = conn.execute(due.returning(d.destination_id)).scalar()
        if found is None:
            raise NotFound(f"no delivery with id {delivery_id}")
        return int(found)

    def recent(
        self, destination_id: int, limit: int = 50, one: int | None = None
    ) -> list[dict[str, Any]]:
        """The newest deliveries to a destination (or just `one`), with attempts, newest first."""
        columns = (d.id, d.event_id, d.webhook_id, d.state, d.next_attempt_at, d.created_at, d.log)
        only = [d.id == one] if one is not None else []
        query = sa.select(*columns).where(d.destination_id == destination_id, *only)
        with self.db.begin_read() as conn:
            rows = conn.execute(query.order_by(d.id.desc()).limit(limit)).all()
        return [
            {
                **row._mapping,
                "attempts": json.loads(row.log),
                "log": None,
                "created_at": row.created_at.isoformat(),
                "next_attempt_at": row.next_attempt_at.isoformat() if row.state in OPEN else None,
            }
            for row in rows
        ]

    def prune(self, now: datetime | None = None) -> int:
        """Delete events older than the retention that every enabled destination has (delivered
        or failed), with their deliveries; parcel and integration state stay. Returns how many."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.settings.retention_days)
        enabled = sa.select(dest.id).where(dest.enabled)
        open_delivery = sa.exists().where(
            d.event_id == e.id, d.state.in_(OPEN), d.destination_id.in_(enabled)
        )
        fanned_out = sa.select(sa.func.min(dest.cursor)).where(dest.enabled).scalar_subquery()
        old = sa.select(e.id).where(
            e.received_at < cutoff, sa.or_(fanned_out.is_(None), e.id <= fanned_out), ~open_delivery
        )
        with self.db.begin_write() as conn:
            ids = list(conn.execute(old.limit(10_000)).scalars())
            conn.execute(relay_deliveries.delete().where(d.event_id.in_(ids)))
            conn.execute(webhook_events.delete().where(e.id.in_(ids)))
        return len(ids)


def delivery_update(where: Any) -> Any:
    """UPDATE of the delivery rows matching `where`."""
    return relay_deliveries.update().where(where)
