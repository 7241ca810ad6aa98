"""The relay's settings, built from an environment mapping by a pure function."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from receivers.errors import ConfigurationError
from receivers.settings import decimal_number, whole_number

# Standard Webhooks' schedule: the delay before each attempt, in seconds.
SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
TIMEOUT_SECONDS = 15
DISABLE_AFTER_SECONDS = 5 * 24 * 3600


@dataclass(frozen=True)
class RelaySettings:
    """Retention, the retry schedule's scale, and which addresses destinations may use."""

    retention_days: int = 30
    retry_scale: float = 1.0
    allow_private: bool = False
    sandbox: bool = False  # loopback destinations are allowed in sandbox mode

    def delay(self, attempts: int) -> float | None:
        """Seconds to wait before attempt number `attempts + 1`; None when none is left."""
        return SCHEDULE[attempts] * self.retry_scale if attempts < len(SCHEDULE) else None


def load_relay_settings(env: Mapping[str, str]) -> RelaySettings:
    """Read EVENT_RETENTION_DAYS, RELAY_RETRY_SCALE, RELAY_ALLOW_PRIVATE; list every problem."""
    problems: list[str] = []
    days = whole_number(
        env, "EVENT_RETENTION_DAYS", 30, problems, what="a number of days >= 1", valid=bool
    )
    scale = decimal_number(
        env,
        "RELAY_RETRY_SCALE",
        1.0,
        problems,
        what="a factor > 0 (1 = the real schedule)",
        valid=lambda f: 0 < f <= 1000,
    )
    raw = env.get("RELAY_ALLOW_PRIVATE", "false").strip().lower()
    if raw not in ("true", "false", ""):
        problems.append(f"RELAY_ALLOW_PRIVATE must be true or false, got {raw!r}")
    if problems:
        raise ConfigurationError(problems)
    return RelaySettings(retention_days=days, retry_scale=scale, allow_private=raw == "true")
