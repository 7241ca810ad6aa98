"""Operator access: the onboarding token, compared in constant time, and a limit on guessing
kept in the database per client address (after TRUSTED_PROXY_HOPS, never a raw X-Forwarded-For).
"""

from __future__ import annotations

import enum
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from receivers.db import Database
from receivers.errors import StorageUnavailable
from receivers.tables import token_failures

log = logging.getLogger(__name__)

FAILURE_WINDOW_SECONDS = 60.0
MAX_FAILURES_PER_WINDOW = 10


@dataclass(frozen=True, repr=False)
class OperatorToken:
    """The secret of the onboarding URL and of the operator API."""

    value: str
    generated_now: bool = False

    def __repr__(self) -> str:
        return "OperatorToken(<hidden>)"


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    LOCKED_OUT = "locked_out"  # wrong, and this client has failed too often lately


class TokenGuard:
    """Checks presented tokens and counts each client's failures in the shared database."""

    def __init__(self, token: OperatorToken, db: Database) -> None:
        self.token = token
        self.db = db

    def check(self, presented: str | None, client: str) -> Verdict:
        """ACCEPTED for the right token, always; otherwise count the failure (no sleep)."""
        if presented is not None and hmac.compare_digest(
            presented.encode("utf-8"), self.token.value.encode("utf-8")
        ):
            return Verdict.ACCEPTED
        client = client[:100]
        row = token_failures.c
        now = datetime.now(UTC)
        try:
            with self.db.begin_read() as conn:
                seen = conn.execute(sa.select(row.failures).where(row.client == client)).scalar()
            if seen is not None and seen >= MAX_FAILURES_PER_WINDOW:
                return Verdict.LOCKED_OUT
            upsert = self.db.insert(token_failures).values(client=client, failures=1, since=now)
            upsert = upsert.on_conflict_do_update(
                index_elements=[row.client], set_={"failures": row.failures + 1}
            )
            with self.db.begin_write() as conn:
                # The window starts at a client's first failure; forget windows that ended.
                old = now - timedelta(seconds=FAILURE_WINDOW_SECONDS)
                conn.execute(sa.delete(token_failures).where(row.since < old))
                conn.execute(upsert)
        except StorageUnavailable as exc:
            log.warning("operator_token_rejected client=%s failures_not_counted=%s", client, exc)
            return Verdict.REFUSED
        log.warning("operator_token_rejected client=%s recent_failures=%d", client, (seen or 0) + 1)
        return Verdict.REFUSED


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
