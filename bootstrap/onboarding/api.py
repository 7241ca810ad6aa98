"""`GET/POST /api/onboarding`: the bootstrap's JSON state for scripts (Bearer onboarding token)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from bootstrap.errors import AttemptInProgress, BootstrapError, InvalidDesiredSettings
from bootstrap.onboarding import inputs
from bootstrap.onboarding.access import api_token_required
from bootstrap.onboarding.presentation import LIVE_STATES, advice
from bootstrap.onboarding.views import current_desired, default_request, desired_for
from bootstrap.services import services

blueprint = Blueprint("onboarding_api", __name__)


@blueprint.get("/api/onboarding")
@api_token_required
def state() -> Response:
    """The latest attempt (re-checked against Sendcloud), else the plan; with `desired`."""
    found = services(current_app)
    try:
        wanted = current_desired().to_json()
        latest = found.watcher.latest(refresh_live=True)
        if latest is not None:
            return _state_response({**latest.to_json(), "desired": wanted}, 200)
        plan = found.bootstrapper.plan(desired_for(default_request()))
    except BootstrapError as exc:
        return _error(exc)
    shown = plan.desired.shown()
    del shown["webhook_active"]
    return _state_response(
        {
            "desired": wanted,
            "attempt_id": None,
            "integration_id": plan.integration_id,
            "state": "planned",
            **shown,
            "steps": [],
            "started_at": None,
            "verified_at": None,
            "changes": [change.name for change in plan.changes],
        },
        200,
    )


@blueprint.post("/api/onboarding")
@api_token_required
def start() -> Response:
    """Start an attempt; 202 while it waits for the webhook, 200 once it has ended."""
    body = request.get_json(force=True, silent=True)
    if body is None and request.get_data():
        return _problem(400, "the body must be a JSON object (or empty)")
    try:
        wanted = inputs.from_json(body, default_request())
    except inputs.InvalidInput as exc:
        return _problem(400, str(exc), problems=list(exc.problems))
    try:
        started = services(current_app).bootstrapper.start(desired_for(wanted), wanted.wait_seconds)
    except BootstrapError as exc:
        return _error(exc)
    found = started.to_json()
    return _state_response(found, 202 if found["state"] in LIVE_STATES else 200)


def _state_response(body: dict[str, Any], status: int) -> Response:
    body["advice"] = advice(body["state"], body["steps"], body.get("hint"))
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(exc: BootstrapError) -> Response:
    if isinstance(exc, InvalidDesiredSettings):
        return _problem(400, str(exc), problems=list(exc.problems))
    if isinstance(exc, AttemptInProgress):
        return _problem(409, str(exc))
    # Sendcloud could not be used: a gateway problem from the script's point of view.
    return _problem(502, str(exc), hint=exc.hint)


def _problem(status: int, message: str, **extra: Any) -> Response:
    response = jsonify(error=message, **{k: v for k, v in extra.items() if v is not None})
    response.status_code = status
    return response
