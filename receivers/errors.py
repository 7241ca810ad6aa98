"""Every error the receivers package raises, and the start-up configuration error."""

from __future__ import annotations

import traceback
from collections.abc import Iterable


class ConfigurationError(SystemExit):
    """The configuration cannot work; lists every problem at once, never a secret value. A
    SystemExit: `flask` and `gunicorn` print it and stop without a traceback."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"The service cannot start: {len(self.problems)} configuration problem(s):\n{lines}"
        )

    def __str__(self) -> str:
        return str(self.code)


class ReceiverError(Exception):
    """Base of the receivers package's errors."""


class StorageUnavailable(ReceiverError):
    """The database could not be reached or refused the write; nothing was stored."""


class InvalidValue(ReceiverError):
    """The database refused a value the request supplied (a 400, not an outage)."""


def where(exc: BaseException) -> str:
    """The innermost frames of `exc` as file:line, for logs that must not carry its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    return " <- ".join(f"{f.filename}:{f.lineno}" for f in reversed(frames[-3:]))
