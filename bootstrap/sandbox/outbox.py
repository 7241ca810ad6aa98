"""The webhook outbox: signed bodies queued in the database, and every delivery attempt; rows are
claimed atomically, so the delivery thread of every worker may run at once."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bootstrap.sandbox.tables import clients, deliveries, now_ms, outbox
from bootstrap.sandbox.webhooks import serialise, sign
from receivers.db import Database

# Sendcloud: 10 retries, the first after 5 minutes, doubling, at most 1 hour apart.
MAX_RETRIES = 10
FIRST_RETRY_S = 300
MAX_RETRY_S = 3600
# A claimed delivery whose worker died is handed out again after this long.
LEASE_MS = 60_000
DROPPED = "dropped by fault injection"


@dataclass(frozen=True, repr=False)
class Claimed:
    """One outbox row this worker may deliver now."""

    id: int
    action: str
    url: str
    body: str
    signature: str
    attempts: int


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST the sandbox made (or dropped): what, where, and how it went."""

    id: int
    outbox_id: int
    at_ms: int
    action: str
    url: str
    attempt: int
    status_code: int | None
    error: str | None
    state: str  # the outbox row's state now: pending, delivered, failed, dropped

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the control API and the CLI."""
        return {**asdict(self), "ok": self.ok}


def keys_for(conn: Connection, integration_id: int) -> tuple[str, str] | None:
    """The integration's (public, secret) keys; webhooks are signed with the secret one."""
    row = conn.execute(
        sa.select(clients.c.public_key, clients.c.secret_key).where(
            clients.c.integration_id == integration_id
        )
    ).first()
    return None if row is None else (row.public_key, row.secret_key)


def enqueue(
    conn: Connection, action: str, url: str, payload: Any, key: str, claimed: bool = False
) -> Claimed:
    """Queue one signed webhook in the caller's transaction; `claimed`: the caller delivers it now
    (no delivery thread can take it in between; if the caller dies, the lease runs out)."""
    body = serialise(payload)
    signature = sign(body.encode("utf-8"), key)
    now = now_ms()
    result = conn.execute(
        outbox.insert()
        .values(
            action=action,
            url=url,
            body=body,
            signature=signature,
            state="delivering" if claimed else "pending",
            attempts=0,
            due_ms=now,
            claimed_until_ms=now + LEASE_MS if claimed else 0,
            created_ms=now,
        )
        .returning(outbox.c.id)
    )
    return Claimed(int(result.scalar_one()), action, url, body, signature, 0)


def claim(db: Database) -> Claimed | None:
    """Take the next due row for delivery; None if there is none free."""
    now = now_ms()
    with db.begin_write() as conn:
        due = sa.or_(
            sa.and_(outbox.c.state == "pending", outbox.c.due_ms <= now),
            sa.and_(outbox.c.state == "delivering", outbox.c.claimed_until_ms < now),
        )
        query = sa.select(outbox).where(due).order_by(outbox.c.due_ms, outbox.c.id).limit(1)
        row = conn.execute(query).first()
        if row is None:
            return None
        # Conditional update: under PostgreSQL another worker may have taken it meanwhile.
        taken = conn.execute(
            outbox.update()
            .where(outbox.c.id == row.id, outbox.c.state == row.state)
            .where(outbox.c.claimed_until_ms == row.claimed_until_ms)
            .values(state="delivering", claimed_until_ms=now + LEASE_MS)
        ).rowcount
    if not taken:
        return None
    return Claimed(row.id, row.action, row.url, row.body, row.signature, row.attempts)


def retry_delay_s(retry: int, scale: float) -> float:
    """Seconds before retry number `retry` (1-based), Sendcloud's schedule times `scale`."""
    return float(min(FIRST_RETRY_S * 2 ** (retry - 1), MAX_RETRY_S)) * scale


def record(
    db: Database, item: Claimed, status_code: int | None, error: str | None, scale: float
) -> DeliveryAttempt:
    """Record one attempt and decide: delivered, dropped, retry later, or give up after 10."""
    now, attempt = now_ms(), item.attempts + 1
    values: dict[str, Any] = {"attempts": attempt, "claimed_until_ms": 0, "state": "pending"}
    if status_code is not None and 200 <= status_code < 300:
        values["state"] = "delivered"
    elif error == DROPPED:
        values["state"] = "dropped"
    elif attempt > MAX_RETRIES:
        values["state"] = "failed"
    else:
        values["due_ms"] = now + int(retry_delay_s(attempt, scale) * 1000)
    recorded: dict[str, Any] = {
        "outbox_id": item.id,
        "at_ms": now,
        "action": item.action,
        "url": item.url,
        "attempt": attempt,
        "status_code": status_code,
        "error": error,
    }
    with db.begin_write() as conn:
        conn.execute(outbox.update().where(outbox.c.id == item.id).values(**values))
        result = conn.execute(deliveries.insert().values(**recorded).returning(deliveries.c.id))
        return DeliveryAttempt(id=int(result.scalar_one()), state=values["state"], **recorded)


def next_due_ms(db: Database) -> int | None:
    """When the earliest pending row is due, or None when nothing waits."""
    with db.begin_read() as conn:
        found: int | None = conn.execute(
            sa.select(sa.func.min(outbox.c.due_ms)).where(outbox.c.state == "pending")
        ).scalar()
    return found


def attempts(db: Database) -> list[DeliveryAttempt]:
    """Every delivery attempt so far, oldest first."""
    with db.begin_read() as conn:
        rows = conn.execute(
            sa.select(deliveries, outbox.c.state)
            .join(outbox, outbox.c.id == deliveries.c.outbox_id)
            .order_by(deliveries.c.id)
        ).all()
    return [DeliveryAttempt(**row._asdict()) for row in rows]
