"""Flask's signed-cookie sessions (they carry the onboarding page's CSRF token), made cheap."""

from __future__ import annotations

from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CachedSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per key set.

    Flask opens the session on every request, webhooks included, and its default builds a
    new serializer and parses the headers for cookies each time (~50-70 us, a measurable
    share of a webhook delivery's CPU; see the receiver README's benchmark notes).
    """

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """The default serializer for the current keys, reused while the keys stay the same."""
        if not app.secret_key:
            return None
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        found = self._serializers.get(keys)
        if found is None:
            found = super().get_signing_serializer(app)
            if found is None:  # pragma: no cover (checked above; keeps mypy exact)
                return None
            self._serializers = {keys: found}
        return found

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Without a Cookie header the session is empty, exactly as Flask's default decides."""
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()
        return super().open_session(app, request)
