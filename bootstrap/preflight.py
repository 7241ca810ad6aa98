"""The pre-flight: post a correctly signed synthetic delivery to our own public webhook URL."""

from __future__ import annotations

import json
import logging
import time

import requests

from bootstrap.errors import PreflightFailed
from receivers.signature import sign

log = logging.getLogger(__name__)

PREFLIGHT_TIMEOUT = (3.0, 5.0)


def preflight(webhook_url: str, secret: str | None, attempt_id: str) -> str:
    """Require a 2xx from `webhook_url` for a signed test delivery; return a detail line."""
    if not secret:
        raise PreflightFailed(
            "no webhook secret is configured, so no delivery can be verified",
            "Set SENDCLOUD_WEBHOOK_SECRET (or SENDCLOUD_SECRET_KEY).",
        )
    # Serialised like Sendcloud does (Python json.dumps defaults); signed over these exact bytes.
    body = json.dumps(
        {
            "action": "bootstrap_preflight",
            "timestamp": int(time.time() * 1000),
            "attempt_id": attempt_id,
        }
    ).encode()
    headers = {"Content-Type": "application/json", "Sendcloud-Signature": sign(body, secret)}
    started = time.monotonic()
    try:
        # No redirects: Sendcloud does not follow them either, so one here is a wrong URL.
        with requests.post(
            webhook_url,
            data=body,
            headers=headers,
            timeout=PREFLIGHT_TIMEOUT,
            allow_redirects=False,
        ) as resp:
            status = resp.status_code
            location = resp.headers.get("Location")
    except requests.Timeout as exc:
        raise PreflightFailed(
            f"{webhook_url} did not answer within {PREFLIGHT_TIMEOUT[1]:g} s",
            "Is PUBLIC_URL this service's public address? A sleeping dyno or a firewall "
            "can also cause this.",
        ) from exc
    except requests.RequestException as exc:
        raise PreflightFailed(
            f"could not connect to {webhook_url} ({type(exc).__name__})",
            "Check PUBLIC_URL: it must be the address where Sendcloud can reach this service.",
        ) from exc
    millis = (time.monotonic() - started) * 1000
    log.info("preflight_answered status=%s url=%s ms=%.0f", status, webhook_url, millis)
    if 200 <= status < 300:
        return f"{webhook_url} accepted a signed test delivery (HTTP {status}, {millis:.0f} ms)"
    raise PreflightFailed(f"{webhook_url} answered HTTP {status}", _hint(status, location))


def _hint(status: int, location: str | None) -> str:
    if 300 <= status < 400:
        return (
            f"It redirects to {location!r}; Sendcloud does not follow redirects. Use the final "
            "address in PUBLIC_URL (https, exact host), or fix the proxy's forwarded headers."
        )
    if status == 401:
        return (
            "The receiver there rejected a correctly signed delivery: the URL reaches another "
            "deployment, a proxy alters the body, or its webhook secret differs from ours."
        )
    if status in (404, 405):
        return "Nothing receives webhooks there: PUBLIC_URL probably points elsewhere."
    if status == 413:
        return "A proxy in front of the service limits request bodies too strictly."
    return "The receiver or a proxy in front of it is failing; check its logs and /readyz."
