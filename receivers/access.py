"""Operator access: the Bearer onboarding token, compared in constant time, failures slowed down."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

FAILURE_WINDOW_SECONDS = 60.0
MAX_FAILURES_PER_WINDOW = 10
FAILURE_DELAY_SECONDS = 0.05


@dataclass(frozen=True, repr=False)
class OperatorToken:
    """The secret of the onboarding URL and of the operator API."""

    value: str
    generated_now: bool = False

    def __repr__(self) -> str:
        return "OperatorToken(<hidden>)"


@dataclass
class TokenGuard:
    """Checks presented tokens; after repeated failures from one client it refuses outright."""

    token: OperatorToken
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def locked_out(self, client: str) -> bool:
        """True while `client` has failed too often within the window."""
        with self._lock:
            recent = self._recent(client, time.monotonic())
            return len(recent) >= MAX_FAILURES_PER_WINDOW

    def check(self, presented: str | None, client: str) -> bool:
        """Constant-time comparison; a failure is remembered and costs the caller a short delay."""
        ok = presented is not None and hmac.compare_digest(
            presented.encode("utf-8"), self.token.value.encode("utf-8")
        )
        if ok:
            return True
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            count = len(self._failures[client])
        log.warning("operator_token_rejected client=%s recent_failures=%d", client, count)
        # Slows down guessing without tying up a worker for long.
        time.sleep(FAILURE_DELAY_SECONDS)
        return False

    def _recent(self, client: str, now: float) -> deque[float]:
        recent = self._failures.setdefault(client, deque())
        while recent and now - recent[0] > FAILURE_WINDOW_SECONDS:
            recent.popleft()
        return recent


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
