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
        self.problems = problems
        self.message = str(problems)


class CarrierNotOffered(ValidationFailed):
    """Service points asked for with carriers this account does not offer for them."""

    # UNCONFIRMED: no Sendcloud source shows what a PATCH with an unknown carrier answers; this
    # is the sentence Sendcloud documents for carriers a (v3) service-point search cannot use.
    def __init__(self, unknown: list[str]) -> None:
        self.detail = (
            f"Service points are not supported for the requested carriers: {', '.join(unknown)}."
        )
        super().__init__({"settings": [f"service_point_carriers: {self.detail}"]})


class TriggerFailed(SandboxError):
    """A webhook cannot be triggered (unknown action, no webhook URL, bad option)."""
