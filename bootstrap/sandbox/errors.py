"""Every error the sandbox raises; the API views turn them into Sendcloud's error bodies."""

from __future__ import annotations


class SandboxError(Exception):
    """Base of the sandbox's errors; str() is plain words, safe to show."""


class IntegrationNotFound(SandboxError):
    """No integration with that id (Sendcloud: 404 "No Integration matches the given query.")."""


class ValidationFailed(SandboxError):
    """The body breaks Sendcloud's rules; `message` is the v2 stringified-dict text."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        self.problems = problems
        super().__init__(str(problems))

    @property
    def message(self) -> str:
        """The text Sendcloud puts in `error.message` (a Python dict repr, not JSON)."""
        return str(self.problems)


class TriggerFailed(SandboxError):
    """A webhook cannot be triggered (unknown action, no webhook URL, bad option)."""
