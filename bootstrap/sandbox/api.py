"""The emulated Sendcloud as one Flask app: token server, API v2 and the control API."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from bootstrap.sandbox import control, integrations_api, request_hooks, token_endpoint
from bootstrap.sandbox.envelope import NOT_FOUND, Refused, oauth_error, v2_error
from bootstrap.sandbox.errors import IntegrationNotFound, ValidationFailed
from bootstrap.sandbox.runtime import Sandbox
from receivers.errors import StorageUnavailable


def _handle(exc: Exception) -> Response:
    if isinstance(exc, Refused):
        return v2_error(exc.code, exc.message)
    if isinstance(exc, IntegrationNotFound):
        return v2_error(404, NOT_FOUND)
    if isinstance(exc, ValidationFailed):
        return v2_error(400, exc.message)
    if isinstance(exc, StorageUnavailable):
        return v2_error(503, "Service temporarily unavailable.")
    if isinstance(exc, HTTPException):
        code = exc.code or 500
        if request.path.startswith("/oauth2"):
            return oauth_error(code, "invalid_request", exc.description or exc.name)
        if code == 405:
            return v2_error(405, f'Method "{request.method}" not allowed.')
        return v2_error(code, "Not found." if code == 404 else exc.name)
    current_app.logger.exception("sandbox_internal_error path=%s", request.path)
    return v2_error(500, "Internal server error.")


def create_sandbox_app(box: Sandbox) -> Flask:
    """A separate Flask app that answers like Sendcloud (token server, API v2, control API)."""
    app = Flask("bootstrap.sandbox")
    # Keep Sendcloud's field order in bodies (jsonify sorts keys by default).
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider attribute
    app.extensions["sandbox"] = box
    app.register_blueprint(token_endpoint.blueprint)
    app.register_blueprint(integrations_api.blueprint)
    app.register_blueprint(control.blueprint, url_prefix="/_control")
    app.before_request(request_hooks.before_request)
    app.after_request(request_hooks.after_request)
    app.register_error_handler(Exception, _handle)
    return app
