"""Settings of the receiving side, built from an environment mapping by a pure function."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from receivers.db import url_problem
from receivers.errors import ConfigurationError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ReceiverSettings:
    """What the receiver needs: database, signing keys and the body size limit."""

    # Never shown, not even in a debugger or a log line by accident (the URL may hold a password).
    database_url: str = field(repr=False)
    webhook_secret: str | None = field(repr=False)
    webhook_secret_previous: str | None = field(repr=False)
    max_body_bytes: int


def whole_number(
    env: Mapping[str, str],
    name: str,
    default: int,
    problems: list[str],
    *,
    what: str,
    valid: Callable[[int], bool] = lambda _: True,
) -> int:
    """An optional whole-number variable; a bad value adds a problem and gives `default`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.isdigit() and valid(int(raw)):
        return int(raw)
    problems.append(f"{name} must be {what}, got {raw!r}")
    return default


def decimal_number(
    env: Mapping[str, str],
    name: str,
    default: float,
    problems: list[str],
    *,
    what: str,
    valid: Callable[[float], bool] = lambda _: True,
) -> float:
    """An optional decimal variable; a bad value adds a problem and gives `default`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")  # fails every range check below
    if value == value and valid(value):
        return value
    problems.append(f"{name} must be {what}, got {raw!r}")
    return default


def load_receiver_settings(env: Mapping[str, str], instance_path: Path) -> ReceiverSettings:
    """Read the receiver's variables; raise ConfigurationError listing every problem."""
    problems: list[str] = []

    database_url = env.get("DATABASE_URL", "").strip()
    if not database_url:
        database_url = f"sqlite:///{instance_path / 'sendcloud-webhooks.sqlite3'}"
    elif problem := url_problem(database_url):
        problems.append(problem)

    max_body_bytes = whole_number(
        env,
        "WEBHOOK_MAX_BODY_BYTES",
        DEFAULT_MAX_BODY_BYTES,
        problems,
        what="a positive whole number of bytes",
        valid=lambda n: n > 0,
    )

    secret = (env.get("SENDCLOUD_WEBHOOK_SECRET") or env.get("SENDCLOUD_SECRET_KEY") or "").strip()
    previous = env.get("SENDCLOUD_WEBHOOK_SECRET_PREVIOUS", "").strip()

    if problems:
        raise ConfigurationError(problems)
    return ReceiverSettings(
        database_url=database_url,
        webhook_secret=secret or None,
        webhook_secret_previous=previous or None,
        max_body_bytes=max_body_bytes,
    )
