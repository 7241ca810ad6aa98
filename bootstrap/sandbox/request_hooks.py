"""What happens around every emulated request: injected faults before, the request log after."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Response, request

from bootstrap.sandbox import credentials, faults, requestlog
from bootstrap.sandbox.envelope import sandbox

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def before_request() -> Response | None:
    """Apply latency, forced failures and the rate limit (the control API is exempt)."""
    if request.path.startswith("/_control"):
        return None
    db = sandbox().db
    current = faults.read(db)
    if current.latency_ms:
        time.sleep(current.latency_ms / 1000)
    forced = faults.take_forced_failure(db, request.path)
    if forced is not None:
        status, body = forced
        return _plain(status, body)
    limited = current.rate_limit and request.method in UNSAFE
    if limited and request.path.startswith("/api/") and faults.over_rate_limit(db):
        return _plain(429, "")
    return None


def _plain(status: int, body: str) -> Response:
    """A non-JSON answer; an empty one has no content type, like Sendcloud's throttled 429."""
    response = Response(body, status=status, mimetype="text/plain")
    if not body:
        del response.headers["Content-Type"]
    return response


def _who() -> tuple[str, str | None]:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic" and request.authorization is not None:
        return "basic", request.authorization.username
    if scheme.lower() == "bearer":
        client = credentials.check_token(sandbox().db, value.strip())
        return "bearer", client.public_key if client else None
    if "client_id" in request.form:
        return "form", request.form.get("client_id")
    return ("other" if scheme else "none"), None


def after_request(response: Response) -> Response:
    """Log the request: who (scheme and client id, never a secret), what, and the status."""
    if request.path.startswith("/_control"):
        return response
    auth, client_id = _who()
    form = {k: v for k, v in request.form.items() if k != "client_secret"} or None
    body: Any = None
    if not request.form:
        raw = request.get_data(as_text=True)
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw[:2000]
    requestlog.record(
        sandbox().db,
        method=request.method,
        path=request.path,
        auth=auth,
        client_id=client_id,
        body=body,
        form=form,
        status=response.status_code,
    )
    return response
