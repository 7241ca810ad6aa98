"""TEST-ONLY fault injection (all off by default): rate limit, failures, latency, lost webhooks."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, request

from bootstrap.sandbox.tables import faults, now_ms, unsafe_hits
from receivers.db import Database

# Sendcloud: 100 unsafe (POST/PUT/PATCH/DELETE) requests per minute per account.
UNSAFE_LIMIT = 100
WINDOW_MS = 60_000
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
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
    # Changes made through the API send no integration_updated (Sendcloud may well do so: the
    # docs say "whenever the integration is updated", and no source shows it for API changes).
    silent_api_changes: bool = False


def check_changes(changes: dict[str, Any]) -> list[str]:
    """Problems with a requested change of the switches, in plain words."""
    kinds = {f.name: type(f.default) for f in dataclasses.fields(Faults)}
    problems = []
    for name, value in changes.items():
        kind = kinds.get(name)
        if kind is None:
            problems.append(f"unknown fault {name!r} (known: {', '.join(kinds)})")
        elif kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            problems.append(f"{name} must be a whole number >= 0")
        elif not isinstance(value, kind):
            problems.append(f"{name} must be a {kind.__name__}")
    status = changes.get("fail_status")
    if isinstance(status, int) and not 400 <= status <= 599:
        problems.append("fail_status must be an HTTP error status (400-599)")
    return problems


def read(db: Database) -> Faults:
    """The current switches."""
    with db.begin_read() as conn:
        row = conn.execute(sa.select(faults).where(faults.c.id == 1)).first()
    if row is None:
        return Faults()
    return Faults(**{name: value for name, value in row._asdict().items() if name != "id"})


def update(db: Database, **changes: Any) -> Faults:
    """Change some switches (checked with `check_changes`) and return all of them."""
    if problems := check_changes(changes):
        raise ValueError("; ".join(problems))
    if "fail_next" in changes:
        # Arming forced failures describes them whole: what is not given takes its default
        # instead of a previous arming's, so `fail_next=2` alone always means two envoy 503s.
        failure = dataclasses.asdict(Faults())
        changes = {k: failure[k] for k in ("fail_status", "fail_body", "fail_path")} | changes
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
    # Conditional decrement: with several workers each failure is consumed exactly once.
    return (current.fail_status, current.fail_body) if _take(db, faults.c.fail_next) else None


def take_drop(db: Database) -> bool:
    """Consume one "drop the next webhook" if pending."""
    return _take(db, faults.c.drop_webhooks)


def _take(db: Database, counter: sa.Column[int]) -> bool:
    with db.begin_write() as conn:
        taken = conn.execute(
            faults.update().where(faults.c.id == 1, counter > 0).values({counter: counter - 1})
        ).rowcount
    return bool(taken)


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


def before_request() -> Response | None:
    """Apply latency, forced failures and the rate limit (the control API is exempt)."""
    if request.path.startswith("/_control"):
        return None
    db = current_app.extensions["sandbox"].db
    current = read(db)
    if current.latency_ms:
        time.sleep(current.latency_ms / 1000)
    forced = take_forced_failure(db, request.path)
    if forced is not None:
        answer = _plain(*forced)
        if seconds := current_app.extensions["sandbox"].config.retry_after:
            answer.headers["Retry-After"] = str(seconds)
        return answer
    limited = current.rate_limit and request.method in UNSAFE and request.path.startswith("/api/")
    return _plain(429, "") if limited and over_rate_limit(db) else None


def _plain(status: int, body: str) -> Response:
    """A non-JSON answer; an empty one has no content type, like Sendcloud's throttled 429."""
    response = Response(body, status=status, mimetype="text/plain")
    if not body:
        del response.headers["Content-Type"]
    return response
