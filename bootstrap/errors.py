"""Every error the bootstrap raises; str() is plain words safe to show, never a key, token or
signature (built from status codes, integration ids and Sendcloud's error text)."""

from __future__ import annotations

AUTH_HINT = (
    "If the integration has 'Use OAuth2 authentication' ticked in the Sendcloud panel, "
    "use SENDCLOUD_AUTH=oauth2; if it does not, use SENDCLOUD_AUTH=basic. Check that "
    "SENDCLOUD_PUBLIC_KEY and SENDCLOUD_SECRET_KEY are the keys of this integration."
)


class BootstrapError(Exception):
    """Base of the bootstrap's errors; `hint` says what to do about it, when known."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InvalidDesiredSettings(BootstrapError):
    """The wanted settings cannot work; found locally, before calling Sendcloud."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class PublicUrlUnknown(BootstrapError):
    """No base URL for the webhook: PUBLIC_URL is unset and there is no request to derive it."""


class PreflightFailed(BootstrapError):
    """Our own public webhook URL did not accept a correctly signed test delivery."""


class NothingToUndo(BootstrapError):
    """No earlier change by this service is recorded, so there is nothing to restore."""


class AttemptInProgress(BootstrapError):
    """Another bootstrap attempt is still applying its change."""


class SendcloudError(BootstrapError):
    """Sendcloud could not be used; `status` is the last HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class SendcloudUnavailable(SendcloudError):
    """429, 5xx or connection errors persisted for the whole retry budget."""


class SendcloudAuthError(SendcloudError):
    """Sendcloud refused our credentials (after one fresh token)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, status, AUTH_HINT)


class IntegrationNotFound(SendcloudError):
    """Sendcloud knows no integration with the configured id (or the keys cannot see it)."""


class SendcloudRejected(SendcloudError):
    """Sendcloud refused the request as invalid (400); the message carries its text."""


class UnexpectedResponse(SendcloudError):
    """Sendcloud answered, but not with what its documentation describes."""


class ChangeNotApplied(SendcloudError):
    """Sendcloud accepted the PATCH but its answer or the read-back shows other values."""
