"""Settings of the receiving side, built from an environment mapping by a pure function."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from receivers.db import url_problem
from receivers.errors import ConfigurationError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True, repr=False)
class ReceiverSettings:
    """What the receiver needs: database, signing keys and the body size limit."""

    database_url: str
    webhook_secret: str | None
    webhook_secret_previous: str | None
    max_body_bytes: int

    def __repr__(self) -> str:
        # Never show the keys, not even in a debugger or a log line by accident.
        return (
            f"ReceiverSettings(database_url=<{self.database_url.split(':', 1)[0]}>, "
            f"webhook_secret={'<set>' if self.webhook_secret else None}, "
            f"webhook_secret_previous={'<set>' if self.webhook_secret_previous else None}, "
            f"max_body_bytes={self.max_body_bytes})"
        )


def load_receiver_settings(env: Mapping[str, str], instance_path: Path) -> ReceiverSettings:
    """Read the receiver's variables; raise ConfigurationError listing every problem."""
    problems: list[str] = []

    database_url = env.get("DATABASE_URL", "").strip()
    if not database_url:
        database_url = f"sqlite:///{instance_path / 'sendcloud-webhooks.sqlite3'}"
    elif problem := url_problem(database_url):
        problems.append(problem)

    max_body_bytes = DEFAULT_MAX_BODY_BYTES
    raw_limit = env.get("WEBHOOK_MAX_BODY_BYTES", "").strip()
    if raw_limit:
        if raw_limit.isdigit() and int(raw_limit) > 0:
            max_body_bytes = int(raw_limit)
        else:
            problems.append(
                "WEBHOOK_MAX_BODY_BYTES must be a positive whole number of bytes, "
                f"not {raw_limit!r}"
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
