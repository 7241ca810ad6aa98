"""The sandbox's control API (/_control/…): fault injection, panel changes, logs, triggers.

Guarded by HTTP Basic with the sandbox keys: in zero-config mode the sandbox is mounted on
the service itself, and a stranger must not be able to make it POST webhooks around.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from bootstrap.sandbox import credentials
from bootstrap.sandbox.envelope import Refused, sandbox
from bootstrap.sandbox.errors import IntegrationNotFound, TriggerFailed, ValidationFailed

blueprint = Blueprint("sandbox_control", __name__)


@blueprint.before_request
def _guard() -> None:
    auth = request.authorization
    if auth is None or auth.type != "basic":
        raise Refused(401, "Authentication credentials were not provided.")
    if credentials.check_keys(sandbox().db, auth.username or "", auth.password or "") is None:
        raise Refused(401, "Invalid username/password.")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused(400, "send a JSON object")
    return body


@blueprint.get("/requests")
def requests_log() -> Response:
    """The request log (no secrets), oldest first; ?after=ID for newer ones only."""
    after = request.args.get("after", "0")
    rows = sandbox().requests(int(after) if after.isdigit() else 0)
    return jsonify([row.to_json() for row in rows])


@blueprint.get("/deliveries")
def deliveries() -> Response:
    """Every webhook delivery attempt, oldest first."""
    return jsonify([attempt.to_json() for attempt in sandbox().deliveries()])


@blueprint.route("/faults", methods=["GET", "POST"])
def fault_switches() -> Response:
    """Read or change the fault switches (rate_limit, fail_next, fail_status, …)."""
    changes = _body() if request.method == "POST" else {}
    try:
        current = sandbox().faults(**changes)
    except ValueError as exc:
        raise Refused(400, str(exc)) from exc
    return jsonify(current.to_json())


@blueprint.get("/integrations/<int:integration_id>")
def integration(integration_id: int) -> Response:
    """The stored integration, including the panel-only `oauth2_only` flag."""
    row = sandbox().integration(integration_id)
    if row is None:
        raise IntegrationNotFound(integration_id)
    return jsonify(row)


@blueprint.post("/integrations/<int:integration_id>/panel")
def panel(integration_id: int) -> Response:
    """Change the integration "in the Sendcloud panel" (emits integration_updated)."""
    fields = _body()
    notify = fields.pop("notify", True)
    try:
        row = sandbox().panel_update(integration_id, notify=bool(notify), **fields)
    except ValidationFailed as exc:
        raise Refused(400, exc.message) from exc
    return jsonify(row)


@blueprint.post("/trigger")
def trigger() -> Response:
    """Deliver one signed webhook to the integration's configured webhook URL now."""
    options = _body()
    action = str(options.pop("action", ""))
    integration_id = options.pop("integration_id", 1)
    # No `url` here: over HTTP the sandbox only ever POSTs to the configured webhook URL.
    options.pop("url", None)
    try:
        attempt = sandbox().trigger(action, integration_id=int(integration_id), **options)
    except TriggerFailed as exc:
        raise Refused(400, str(exc)) from exc
    return jsonify(attempt.to_json())
