"""Who may use the onboarding routes: the onboarding token, checked in constant time, and CSRF."""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import urlencode

from flask import Response, current_app, g, jsonify, redirect, request, session
from werkzeug.exceptions import NotFound

from receivers import services as receiver_services
from receivers.access import Verdict, bearer_token

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

CSRF_SESSION_KEY = "onboarding_csrf"
ACCESS_SESSION_KEY = "onboarding_access"


def token_accepted(presented: str | None) -> bool:
    """True when `presented` is the onboarding token (receivers/access.py limits guessing)."""
    guard = receiver_services(current_app).guard
    return guard.check(presented, request.remote_addr or "unknown") is Verdict.ACCEPTED


def page_token_required(view: Callable[P, R | Response]) -> Callable[P, R | Response]:
    """The page's routes take the token once, from the onboarding URL (or a form), and
    remember it in this browser's session; wrong or none → 404. Its forms (POST) also need
    this browser's CSRF token."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        presented = request.values.get("token")
        token = receiver_services(current_app).guard.token.value
        if presented is not None:
            if not token_accepted(presented):
                # A bare 404: nothing tells a stranger that an integration lives here.
                raise NotFound()
            session[ACCESS_SESSION_KEY] = _session_proof(token)
            if request.method == "GET" and "token" in request.args:
                # Exchanged for the session: the address bar, the history and every access
                # log from here on show the URL without the token.
                kept = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
                target = f"{request.script_root}{request.path}?{urlencode(kept)}".rstrip("?")
                return redirect(target, 303)  # type: ignore[return-value]  # a werkzeug Response
        elif not hmac.compare_digest(
            str(session.get(ACCESS_SESSION_KEY, "")), _session_proof(token)
        ):
            raise NotFound()
        if request.method == "POST" and not csrf_valid(request.form.get("csrf_token")):
            log.warning("onboarding_csrf_rejected client=%s", request.remote_addr)
            body = (
                "This form was not sent from a current onboarding page (its CSRF token is "
                "missing or expired). Reload the onboarding page and try again.\n"
            )
            return Response(body, status=400, mimetype="text/plain")
        g.onboarding_token = token
        return view(*args, **kwargs)

    return wrapper


def _session_proof(token: str) -> str:
    """What the session keeps: proof of the token (no longer valid once it changes), not it."""
    key = str(current_app.secret_key).encode("utf-8")
    return hmac.new(key, token.encode("utf-8"), "sha256").hexdigest()


def api_token_required(view: Callable[P, R | Response]) -> Callable[P, R | Response]:
    """The JSON API takes the token as `Authorization: Bearer …`; wrong token → 404."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if not token_accepted(bearer_token(request.headers.get("Authorization"))):
            response = jsonify(error="not found")
            response.status_code = 404
            return response
        return view(*args, **kwargs)

    return wrapper


def csrf_token() -> str:
    """This browser session's CSRF token (created on first use, kept in the signed session)."""
    value = session.get(CSRF_SESSION_KEY)
    if not isinstance(value, str):
        value = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = value
    return value


def csrf_valid(presented: str | None) -> bool:
    """True when the form's CSRF token equals the one in this browser's session."""
    expected = session.get(CSRF_SESSION_KEY)
    if not isinstance(expected, str) or not presented:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))
