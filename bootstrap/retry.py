"""When and how long to wait before retrying a Sendcloud call (pure, no I/O)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Sendcloud's documented throttle (429) and the gateway statuses that mean "try again".
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_JITTER = random.Random()  # noqa: S311 (timing jitter, not cryptography)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter inside a bounded total time budget."""

    budget_seconds: float = 30.0
    base_delay: float = 0.5
    max_delay: float = 8.0
    connect_timeout: float = 5.0
    read_timeout: float = 20.0

    @property
    def timeout(self) -> tuple[float, float]:
        """The (connect, read) timeout of every single HTTP call."""
        return (self.connect_timeout, self.read_timeout)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `attempt` (1-based): full jitter up to base * 2**(n-1)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        # Full jitter spreads retries of several workers instead of synchronising them.
        return (rng or _JITTER).uniform(ceiling / 2, ceiling)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header (delta seconds or HTTP date); None when absent or unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
