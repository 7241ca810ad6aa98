"""Time as the sandbox stores it (epoch milliseconds) and shows it (ISO 8601, UTC)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """Milliseconds since the epoch, the unit of Sendcloud's webhook `timestamp`."""
    return time.time_ns() // 1_000_000


def iso_now() -> str:
    """The current UTC time as Sendcloud writes dates (`2019-08-24T14:15:22Z`)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
