"""How Sendcloud answers become results or typed, plain-words errors, and the retry loop."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from bootstrap.errors import (
    IntegrationNotFound,
    SendcloudAuthError,
    SendcloudRejected,
    SendcloudUnavailable,
    UnexpectedResponse,
)
from bootstrap.retry import RetryPolicy, retry_after_seconds
from bootstrap.schemas import error_message

log = logging.getLogger(__name__)
T = TypeVar("T")


class Transient(Exception):
    """A retryable problem (429, 502-504, connection); handled by the retry loop."""

    def __init__(self, detail: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(detail)
        self.status = status
        self.retry_after = retry_after


def transient_for_status(status: int, retry_after: str | None, where: str) -> Transient:
    """The Transient for a retryable HTTP status (429 bodies are empty: nothing to read)."""
    wait = retry_after_seconds(retry_after)
    what = "too many requests" if status == 429 else "temporarily unavailable"
    return Transient(f"Sendcloud's {where} answered HTTP {status} ({what})", status, wait)


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def raise_for_response(
    resp: requests.Response, integration_id: int, verb: str, auth_mode: str
) -> Any:
    """Return the JSON body of a 2xx answer, else raise the matching BootstrapError."""
    status = resp.status_code
    body = _json(resp)
    if 200 <= status < 300:
        if body is None:
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
            f"{integration_id}; check SENDCLOUD_API_URL (API v2 base URL, e.g. "
            "https://panel.sendcloud.sc/api/v2)",
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


def call_with_retries(policy: RetryPolicy, call: Callable[[], T], what: str) -> T:
    """Run `call`, retrying Transient problems with backoff until the budget is spent."""
    deadline = time.monotonic() + policy.budget_seconds
    tries = 0
    while True:
        tries += 1
        try:
            return call()
        except Transient as exc:
            delay = exc.retry_after if exc.retry_after is not None else policy.backoff(tries)
            if delay > deadline - time.monotonic():
                raise SendcloudUnavailable(
                    f"Sendcloud is unavailable: tried to {what} {tries} time(s) within "
                    f"{policy.budget_seconds:g} s; last problem: {exc}. "
                    "Try again in a few minutes.",
                    exc.status,
                ) from exc
            log.warning(
                "sendcloud_retry what=%r try=%d status=%s delay=%.2f",
                what,
                tries,
                exc.status,
                delay,
            )
            time.sleep(delay)
