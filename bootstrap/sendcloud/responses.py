"""How Sendcloud's answers become results or plain-words errors, and which are worth a retry."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
import stamina
from werkzeug.http import parse_date

from bootstrap.errors import (
    IntegrationNotFound,
    SendcloudAuthError,
    SendcloudRejected,
    SendcloudUnavailable,
    UnexpectedResponse,
)
from bootstrap.sendcloud.schemas import error_message

log = logging.getLogger(__name__)
T = TypeVar("T")

# Sendcloud's documented throttle (429) and the gateway statuses that mean "try again".
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class Transient(Exception):
    """A problem worth retrying (429, 502-504, no connection); never leaves the client."""

    def __init__(self, detail: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(detail)
        self.status = status
        self.retry_after = retry_after


def transient(status: int, retry_after: str | None, where: str) -> Transient:
    """The Transient for a retryable HTTP status (429 bodies are empty: nothing to read)."""
    what = "too many requests" if status == 429 else "temporarily unavailable"
    return Transient(
        f"Sendcloud's {where} answered HTTP {status} ({what})",
        status,
        retry_after_seconds(retry_after),
    )


def token_endpoint_error(exc: requests.RequestException | ValueError) -> Exception:
    """The plain-words error for a token request that failed (authlib's OAuthError aside)."""
    answer = exc.response if isinstance(exc, requests.HTTPError) else None
    if answer is not None and answer.status_code in RETRYABLE_STATUSES:
        return transient(answer.status_code, answer.headers.get("Retry-After"), "token endpoint")
    if answer is not None:
        return SendcloudAuthError(
            f"Sendcloud's token endpoint answered HTTP {answer.status_code} instead of a token",
            answer.status_code,
        )
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return Transient("could not reach Sendcloud's token endpoint")
    return UnexpectedResponse(
        "Sendcloud's token endpoint did not answer with a token; check SENDCLOUD_TOKEN_URL"
    )


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header (delta seconds or HTTP date); None when absent or unusable."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    when = parse_date(value)  # werkzeug: an aware datetime (UTC when no zone), None if unusable
    if when is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(exc: Exception, remaining: float) -> bool | float:
    """stamina's backoff hook: retry Transient problems while `remaining` seconds of the
    budget last; a Retry-After is waited for exactly, or not at all when it would not fit."""
    if not isinstance(exc, Transient) or remaining <= 0:
        return False
    log.warning("sendcloud_retry status=%s retry_after=%s", exc.status, exc.retry_after)
    if exc.retry_after is None:
        return True  # stamina's exponential backoff with jitter
    return exc.retry_after if exc.retry_after <= remaining else False


def retried(caller: stamina.RetryingCaller, budget: float, call: Callable[[], T], what: str) -> T:
    """`call()`, retried while Transient problems fit in `budget` s, else SendcloudUnavailable."""
    deadline = time.monotonic() + budget
    tries = 0

    def counted() -> T:
        nonlocal tries
        tries += 1
        return call()

    try:
        return caller(lambda exc: backoff(exc, deadline - time.monotonic()), counted)
    except Transient as exc:
        raise SendcloudUnavailable(
            f"Sendcloud is unavailable: tried to {what} {tries} time(s) within "
            f"{budget:g} s; last problem: {exc}. Try again in a few minutes.",
            exc.status,
        ) from exc


def raise_for_response(
    resp: requests.Response, integration_id: int | str, verb: str, auth_mode: str
) -> Any:
    """Return the JSON body of a 2xx answer, else raise the matching BootstrapError."""
    status = resp.status_code
    try:
        body = resp.json()
    except ValueError:
        body = None
    if 200 <= status < 300:
        # 204 No Content: API v3's answer to a PATCH (the read-back confirms the change).
        if body is None and status != 204:
            raise UnexpectedResponse(
                f"Sendcloud answered the request to {verb} integration {integration_id} "
                f"with HTTP {status} but no JSON",
                status,
            )
        return body
    text = error_message(body)
    said = f": Sendcloud says {text!r}" if text else ""
    if 300 <= status < 400:
        raise UnexpectedResponse(
            f"Sendcloud answered HTTP {status} (a redirect to "
            f"{resp.headers.get('Location', 'nowhere')!r}) when asked to {verb} integration "
            f"{integration_id}; check SENDCLOUD_API_URL (the API base URL, e.g. "
            "https://panel.sendcloud.sc/api/v2 or …/api/v3)",
            status,
        )
    if status in (401, 403):
        mode = "OAuth2 token" if auth_mode == "oauth2" else "HTTP Basic keys"
        raise SendcloudAuthError(
            f"Sendcloud refused our {mode} (HTTP {status}) when asked to {verb} integration "
            f"{integration_id}{said}",
            status,
        )
    if status == 404:
        raise IntegrationNotFound(
            f"Sendcloud has no integration {integration_id} (HTTP 404{said}). Check "
            "SENDCLOUD_INTEGRATION_ID (the number at the end of the integration's URL in the "
            "Sendcloud panel) and that the keys belong to the same Sendcloud account.",
            status,
        )
    if 400 <= status < 500:
        raise SendcloudRejected(
            f"Sendcloud rejected the request to {verb} integration {integration_id} "
            f"(HTTP {status}){said or ' without saying why'}",
            status,
        )
    raise UnexpectedResponse(
        f"Sendcloud failed with HTTP {status} when asked to {verb} integration "
        f"{integration_id}{said}; try again later",
        status,
    )
