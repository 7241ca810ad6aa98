"""Fault injection: Sendcloud's rate limit, forced 5xx answers, latency and dropped webhooks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bootstrap.sandbox.clock import now_ms
from bootstrap.sandbox.tables import faults, unsafe_hits
from receivers.db import Database

# Sendcloud: 100 unsafe (POST/PUT/PATCH/DELETE) requests per minute per account.
UNSAFE_LIMIT = 100
WINDOW_MS = 60_000
# What an envoy front answers when its upstream is gone (Sendcloud's API sits behind envoy).
DEFAULT_FAIL_BODY = (
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
)


@dataclass(frozen=True)
class Faults:
    """The current switches, shared by every worker through the database."""

    rate_limit: bool = False
    fail_next: int = 0
    fail_status: int = 503
    fail_body: str = DEFAULT_FAIL_BODY  # "" is a real empty body, like Sendcloud's 429
    fail_path: str = ""  # only requests whose path starts with this fail ("" = any)
    latency_ms: int = 0
    drop_webhooks: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the control API."""
        return dataclasses.asdict(self)


_FIELD_TYPES = {
    "rate_limit": bool,
    "fail_next": int,
    "fail_status": int,
    "fail_body": str,
    "fail_path": str,
    "latency_ms": int,
    "drop_webhooks": int,
}


def check_changes(changes: dict[str, Any]) -> list[str]:
    """Problems with a requested change of the switches, in plain words."""
    problems = []
    for name, value in changes.items():
        kind = _FIELD_TYPES.get(name)
        if kind is None:
            problems.append(f"unknown fault {name!r} (known: {', '.join(_FIELD_TYPES)})")
        elif kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            problems.append(f"{name} must be a whole number >= 0")
        elif not isinstance(value, kind):
            problems.append(f"{name} must be a {kind.__name__}")
    status = changes.get("fail_status")
    if isinstance(status, int) and not 400 <= status <= 599:
        problems.append("fail_status must be an HTTP error status (400-599)")
    return problems


# Arming forced failures describes them whole: what is not given takes its default instead
# of a previous arming's value, so `fail_next=2` alone always means "two envoy 503s".
_FAILURE_DEFAULTS = {
    "fail_status": Faults.fail_status,
    "fail_body": Faults.fail_body,
    "fail_path": Faults.fail_path,
}


def read(db: Database) -> Faults:
    """The current switches."""
    with db.begin_read() as conn:
        row = conn.execute(sa.select(faults).where(faults.c.id == 1)).first()
    if row is None:
        return Faults()
    values = dict(row._mapping)
    values.pop("id")
    values["rate_limit"] = bool(values["rate_limit"])
    return Faults(**values)


def update(db: Database, **changes: Any) -> Faults:
    """Change some switches (checked with `check_changes`) and return all of them."""
    if problems := check_changes(changes):
        raise ValueError("; ".join(problems))
    if "fail_next" in changes:
        changes = {**_FAILURE_DEFAULTS, **changes}
    if changes:
        with db.begin_write() as conn:
            conn.execute(faults.update().where(faults.c.id == 1).values(**changes))
            if changes.get("rate_limit") is False:
                conn.execute(unsafe_hits.delete())
    return read(db)


def take_forced_failure(db: Database, path: str) -> tuple[int, str] | None:
    """Consume one forced failure if one is pending for `path`: (status, body) or None."""
    current = read(db)
    if current.fail_next <= 0 or not path.startswith(current.fail_path):
        return None
    with db.begin_write() as conn:
        # Conditional decrement: with several workers each failure is consumed exactly once.
        taken = conn.execute(
            faults.update()
            .where(faults.c.id == 1, faults.c.fail_next > 0)
            .values(fail_next=faults.c.fail_next - 1)
        ).rowcount
    if not taken:
        return None
    return current.fail_status, current.fail_body


def over_rate_limit(db: Database) -> bool:
    """Count one unsafe request; True when it is over Sendcloud's limit (it is then not counted)."""
    now = now_ms()
    with db.begin_write() as conn:
        # Lock the switches row so concurrent workers count one after the other (PostgreSQL;
        # SQLite's BEGIN IMMEDIATE already serialises writers).
        conn.execute(sa.select(faults.c.id).where(faults.c.id == 1).with_for_update())
        conn.execute(unsafe_hits.delete().where(unsafe_hits.c.at_ms <= now - WINDOW_MS))
        count = conn.execute(sa.select(sa.func.count()).select_from(unsafe_hits)).scalar_one()
        if count >= UNSAFE_LIMIT:
            return True
        conn.execute(unsafe_hits.insert().values(at_ms=now))
    return False


def take_drop(db: Database) -> bool:
    """Consume one "drop the next webhook" if pending."""
    with db.begin_write() as conn:
        taken = conn.execute(
            faults.update()
            .where(faults.c.id == 1, faults.c.drop_webhooks > 0)
            .values(drop_webhooks=faults.c.drop_webhooks - 1)
        ).rowcount
    return bool(taken)
