"""Every error the sandbox raises; its API answers them with Sendcloud's error bodies."""

from __future__ import annotations


class SandboxError(Exception):
    """Base of the sandbox's errors; str() is plain words, safe to show."""


class Refused(SandboxError):
    """Answer with Sendcloud's v2 error envelope and this status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class IntegrationNotFound(SandboxError):
    """No integration with that id (Sendcloud: 404 "No Integration matches the given query.")."""


class ValidationFailed(SandboxError):
    """The body breaks Sendcloud's rules; str() is the v2 text, a Python dict repr, not JSON."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        super().__init__(str(problems))
        self.message = str(problems)


class TriggerFailed(SandboxError):
    """A webhook cannot be triggered (unknown action, no webhook URL, bad option)."""
