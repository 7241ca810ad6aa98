"""Deliveries: fan-out of stored events by cursor, claims by lease, results, retention.

Order per parcel: a destination's delivery for a parcel is claimed only when no earlier event
of that parcel (lower event id) is still pending or retrying for that destination, so one
destination sees a parcel's events in the order they were stored; a `failed` one stops holding
the later ones back. Claims lock rows with FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite has one
writer) and set a lease, so several relay processes never send one delivery at the same time,
and a process that dies mid-send leaves a lease that expires: the delivery is sent again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from receivers.db import Database
from receivers.relay.destinations import Destination, NotFound
from receivers.relay.settings import RelaySettings
from receivers.relay.tables import relay_attempts, relay_deliveries, relay_destinations
from receivers.store import PREFLIGHT_ACTION, decode_payload, settled_prefix
from receivers.tables import webhook_events

# Longer than a batch of sends can take (they run in parallel, each with a 15 s timeout).
LEASE = timedelta(seconds=60)
FAN_OUT_BATCH = 500
OPEN = ("pending", "retrying")

d = relay_deliveries.c


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to this process, with the signed body's parts."""

    id: int
    webhook_id: str
    attempts: int
    body: str


@dataclass(frozen=True)
class Result:
    """What one attempt gave."""

    delivery_id: int
    attempts: int  # before this one
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
        new rows were read."""
        now = datetime.now(UTC)
        e = webhook_events.c
        with self.db.begin_write() as conn:
            lock = sa.select(relay_destinations.c.cursor).where(
                relay_destinations.c.id == destination.id, relay_destinations.c.enabled
            )
            # One relay process fans a destination out at a time; the others skip it.
            cursor = conn.execute(lock.with_for_update(skip_locked=True)).scalar_one_or_none()
            if cursor is None:
                return 0
            rows = conn.execute(
                sa.select(e.id, e.action, e.outcome, e.parcel_id, e.received_at, e.event_hash)
                .where(e.id > cursor)
                .order_by(e.id)
                .limit(FAN_OUT_BATCH)
            ).all()
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
            settled = settled_prefix(self.db, rows, cursor, now)
            if settled != cursor:
                conn.execute(
                    relay_destinations.update()
                    .where(relay_destinations.c.id == destination.id)
                    .values(cursor=settled)
                )
        return len(rows)

    def claim(
        self, destination_id: int, limit: int, delivery_id: int | None = None
    ) -> list[Claimed]:
        """Lease up to `limit` due deliveries of a destination (or the one `delivery_id`)."""
        now = datetime.now(UTC)
        earlier = relay_deliveries.alias("earlier")
        # The parcel's oldest open event, as min() over the parcel index: PostgreSQL reads it
        # with one index probe per candidate (an anti-join was planned as a nested loop).
        oldest_open = (
            sa.select(sa.func.min(earlier.c.event_id))
            .where(
                earlier.c.destination_id == d.destination_id,
                earlier.c.parcel_id == d.parcel_id,
                earlier.c.state.in_(OPEN),
            )
            .scalar_subquery()
        )
        first_of_parcel = sa.or_(d.parcel_id.is_(None), d.event_id <= oldest_open)
        query = sa.select(d.id).where(
            d.destination_id == destination_id,
            sa.or_(d.claimed_until.is_(None), d.claimed_until < now),
        )
        if delivery_id is not None:
            query = query.where(d.id == delivery_id, d.state != "delivered")
        else:
            query = query.where(d.state.in_(OPEN), d.next_attempt_at <= now, first_of_parcel)
        query = query.order_by(d.event_id, d.id).limit(limit).with_for_update(skip_locked=True)
        e = webhook_events.c
        with self.db.begin_write() as conn:
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            conn.execute(
                relay_deliveries.update().where(d.id.in_(ids)).values(claimed_until=now + LEASE)
            )
            rows = conn.execute(
                sa.select(
                    d.id,
                    d.webhook_id,
                    d.attempts,
                    d.body,
                    e.action,
                    e.received_at,
                    e.body.label("event_body"),
                    e.source,
                )
                .outerjoin(webhook_events, e.id == d.event_id)
                .where(d.id.in_(ids))
                .order_by(d.event_id, d.id)
            ).all()
        claimed = []
        for row in rows:
            if row.body is not None:
                body = bytes(row.body).decode()
            else:
                payload = decode_payload(bytes(row.event_body))
                body = envelope(row.action, row.received_at, payload, row.source)
            claimed.append(Claimed(row.id, row.webhook_id, row.attempts, body))
        return claimed

    def record(self, destination: Destination, results: list[Result]) -> bool:
        """Store attempts and next steps; returns True when the destination was just disabled."""
        now = datetime.now(UTC)
        with self.db.begin_write() as conn:
            if results:
                conn.execute(
                    relay_attempts.insert(),
                    [
                        {
                            "delivery_id": r.delivery_id,
                            "at": now,
                            "status_code": r.status_code,
                            "latency_ms": r.latency_ms,
                            "error": r.error,
                        }
                        for r in results
                    ],
                )
            updates = []
            for r in results:
                delay = None if r.ok else self.settings.delay(r.attempts + 1)
                state = "delivered" if r.ok else "failed" if delay is None else "retrying"
                updates.append(
                    {
                        "b_id": r.delivery_id,
                        "b_state": state,
                        "b_attempts": r.attempts + 1,
                        "b_next": now + timedelta(seconds=delay or 0),
                    }
                )
            if updates:
                conn.execute(
                    relay_deliveries.update()
                    .where(d.id == sa.bindparam("b_id"))
                    .values(
                        state=sa.bindparam("b_state"),
                        attempts=sa.bindparam("b_attempts"),
                        next_attempt_at=sa.bindparam("b_next"),
                        claimed_until=None,
                    ),
                    updates,
                )
            return self._track_failing(conn, destination.id, results, now)

    def _track_failing(
        self, conn: Any, destination_id: int, results: list[Result], now: datetime
    ) -> bool:
        dest = relay_destinations.c
        where = relay_destinations.update().where(dest.id == destination_id)
        if any(r.ok for r in results):
            conn.execute(where.values(failing_since=None))
            return False
        if not results:
            return False
        since = conn.execute(
            sa.select(dest.failing_since).where(dest.id == destination_id)
        ).scalar_one_or_none()
        if since is None:
            conn.execute(where.values(failing_since=now))
            return False
        if (now - since).total_seconds() < self.settings.disable_after:
            return False
        reason = f"disabled: every delivery failed since {since:%Y-%m-%d %H:%M} UTC"
        conn.execute(where.values(enabled=False, disabled_reason=reason))
        return True

    def add_test(self, destination_id: int) -> int:
        """A signed `test_webhook` delivery to one destination (not a stored event)."""
        now = datetime.now(UTC)
        payload = {"action": "test_webhook", "timestamp": int(now.timestamp() * 1000)}
        body = envelope("test_webhook", now, payload, "relay_test")
        with self.db.begin_write() as conn:
            return int(
                conn.execute(
                    relay_deliveries.insert()
                    .values(
                        destination_id=destination_id,
                        webhook_id=f"msg_test_{now.timestamp():.6f}",
                        state="pending",
                        next_attempt_at=now,
                        created_at=now,
                        body=body.encode(),
                    )
                    .returning(d.id)
                ).scalar_one()
            )

    def retry(self, delivery_id: int) -> int:
        """Put a delivery back on the schedule's start; returns its destination id."""
        with self.db.begin_write() as conn:
            found = conn.execute(
                sa.select(d.destination_id, d.state).where(d.id == delivery_id)
            ).first()
            if found is None:
                raise NotFound(f"no delivery with id {delivery_id}")
            conn.execute(
                relay_deliveries.update()
                .where(d.id == delivery_id)
                .values(state="retrying", attempts=0, next_attempt_at=datetime.now(UTC))
            )
        return int(found.destination_id)

    def recent(
        self, destination_id: int, limit: int = 50, delivery_id: int | None = None
    ) -> list[dict[str, Any]]:
        """The newest deliveries to a destination (or one of them), with attempts, newest first."""
        a = relay_attempts.c
        query = (
            sa.select(
                d.id, d.event_id, d.webhook_id, d.state, d.attempts, d.next_attempt_at, d.created_at
            )
            .where(d.destination_id == destination_id)
            .order_by(d.id.desc())
            .limit(limit)
        )
        if delivery_id is not None:
            query = query.where(d.id == delivery_id)
        with self.db.begin_read() as conn:
            rows = conn.execute(query).all()
            tries = conn.execute(
                sa.select(relay_attempts)
                .where(a.delivery_id.in_([r.id for r in rows]))
                .order_by(a.id)
            ).all()
        by_delivery: dict[int, list[dict[str, Any]]] = {}
        for t in tries:
            by_delivery.setdefault(t.delivery_id, []).append(
                {
                    "at": t.at.isoformat(),
                    "status_code": t.status_code,
                    "latency_ms": t.latency_ms,
                    "error": t.error,
                }
            )
        return [
            {
                "id": r.id,
                "event_id": r.event_id,
                "webhook_id": r.webhook_id,
                "state": r.state,
                "next_attempt_at": r.next_attempt_at.isoformat() if r.state in OPEN else None,
                "created_at": r.created_at.isoformat(),
                "attempts": by_delivery.get(r.id, []),
            }
            for r in rows
        ]

    def prune(self, now: datetime | None = None) -> int:
        """Delete events older than the retention that every enabled destination has (delivered
        or failed) and their deliveries; parcel and integration state stay. Returns how many."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.settings.retention_days)
        e = webhook_events.c
        dest = relay_destinations.c
        open_delivery = sa.exists().where(
            d.event_id == e.id,
            d.state.in_(OPEN),
            d.destination_id.in_(sa.select(dest.id).where(dest.enabled)),
        )
        fanned_out = sa.select(sa.func.min(dest.cursor)).where(dest.enabled).scalar_subquery()
        old = sa.select(e.id).where(
            e.received_at < cutoff,
            sa.or_(fanned_out.is_(None), e.id <= fanned_out),
            ~open_delivery,
        )
        with self.db.begin_write() as conn:
            ids = list(conn.execute(old.limit(10_000)).scalars())
            if ids:
                gone = sa.select(d.id).where(d.event_id.in_(ids))
                conn.execute(relay_attempts.delete().where(relay_attempts.c.delivery_id.in_(gone)))
                conn.execute(relay_deliveries.delete().where(d.event_id.in_(ids)))
                conn.execute(webhook_events.delete().where(e.id.in_(ids)))
        return len(ids)
