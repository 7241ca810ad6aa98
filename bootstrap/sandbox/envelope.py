"""How the sandbox answers errors: Sendcloud's v2 envelope and Hydra's OAuth2 error body."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from bootstrap.sandbox.runtime import Sandbox

NOT_FOUND = "No Integration matches the given query."


class Refused(Exception):
    """Answer with Sendcloud's v2 error envelope."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sandbox() -> Sandbox:
    """The Sandbox behind the current request."""
    found: Sandbox = current_app.extensions["sandbox"]
    return found


def v2_error(code: int, message: str) -> Response:
    """Sendcloud's v2 envelope: {"error": {"code", "request", "message"}}."""
    response = jsonify(
        {"error": {"code": code, "request": request.path.lstrip("/"), "message": message}}
    )
    response.status_code = code
    if code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def oauth_error(code: int, error: str, description: str) -> Response:
    """Hydra's token endpoint errors: error, error_description, status_code."""
    response = jsonify({"error": error, "error_description": description, "status_code": code})
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response
