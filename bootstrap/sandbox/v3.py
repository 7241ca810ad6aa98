"""API v3's field names and JSON:API errors (as Sendcloud's v3 docs show them); routes in `api`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

from bootstrap.sandbox import integrations
from bootstrap.sandbox.errors import (
    CarrierNotOffered,
    IntegrationNotFound,
    Refused,
    ValidationFailed,
)
from receivers.errors import StorageUnavailable

# v3 renamed these; the owned fields keep their v2 names. `created_at` and `feedback_type`
# are not kept by the sandbox (the bootstrap never reads or writes them).
RENAMED = {
    "system": "type",
    "failing_since": "started_failing_at",
    "last_fetch": "last_fetched_at",
    "last_updated_at": "updated_at",
}
NOT_FOUND = "The Integration could not be found with the search criteria given"
# Sendcloud's v3 401s (title, detail) for the sandbox's two 401 messages.
UNAUTHORIZED = {
    "Invalid username/password.": (
        "Invalid username/password.",
        "The username or password provided is incorrect. "
        "Please make a request with the valid credentials.",
    ),
    "Authentication credentials were not provided.": (
        "No credentials",
        "Authentication credentials were not provided.",
    ),
}


def as_v3(row: dict[str, Any]) -> dict[str, Any]:
    """The v3 Integration object (GET), in the v2 object's field order."""
    return {
        RENAMED.get(name, name): value for name, value in integrations.as_integration(row).items()
    }


def error_answer(exc: Exception) -> Response | None:
    """The v3 answer to a sandbox error, or None for an unexpected one."""
    if isinstance(exc, CarrierNotOffered):
        # Like Sendcloud's v3 service-point carrier error: no title.
        return _errors(400, [{"status": "400", "code": "validation_error", "detail": exc.detail}])
    if isinstance(exc, ValidationFailed):
        details = [p.partition(": ")[2] or p for ps in exc.problems.values() for p in ps]
        return _errors(400, [_error(400, "invalid", detail, "Invalid") for detail in details])
    if isinstance(exc, IntegrationNotFound):
        # Sendcloud's documented v3 404 gives the status as a number, unlike its other errors.
        return _errors(404, [{**_error(404, "not_found", NOT_FOUND), "status": 404}])
    if isinstance(exc, Refused):
        title, detail = UNAUTHORIZED.get(exc.message, (None, exc.message))
        kind = {401: "authentication_failed", 403: "forbidden"}.get(exc.code, "invalid")
        return _errors(exc.code, [_error(exc.code, kind, detail, title)])
    if isinstance(exc, StorageUnavailable):
        return _errors(503, [{"status": "503", "code": None, "detail": "Try again later."}])
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        kind = "not_found" if status == 404 else "invalid"
        return _errors(status, [_error(status, kind, exc.name)])
    return None


def _error(status: int, code: str, detail: str, title: str | None = None) -> dict[str, Any]:
    title = title or HTTPStatus(status).phrase
    return {"status": str(status), "code": code, "title": title, "detail": detail}


def _errors(status: int, errors: list[dict[str, Any]]) -> Response:
    response = jsonify({"errors": errors})
    response.status_code = status
    return response
