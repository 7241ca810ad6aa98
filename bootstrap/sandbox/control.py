"""TEST-ONLY: the request log and the control API (/_control/…: what was received, faults,
triggers), behind HTTP Basic with the sandbox keys: mounted on the service, it must not POST
webhooks for strangers."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request

from bootstrap.sandbox import credentials
from bootstrap.sandbox.errors import IntegrationNotFound, Refused
from bootstrap.sandbox.tables import now_ms, requests_log
from receivers.db import Database

blueprint = Blueprint("sandbox_control", __name__)


@dataclass(frozen=True)
class LoggedRequest:
    """One request: never a secret (no keys, tokens or client_secret), only who and what."""

    id: int
    at_ms: int
    method: str
    path: str
    auth: str  # "basic", "bearer", "form" (client_id/client_secret fields), "none", "other"
    client_id: str | None
    body: Any  # the parsed JSON body, or the raw text when it was not JSON, or None
    form: dict[str, str] | None  # form fields, client_secret left out
    status: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the control API."""
        return asdict(self)


def logged_requests(db: Database, after_id: int = 0) -> list[LoggedRequest]:
    """Logged requests with an id above `after_id`, oldest first."""
    query = sa.select(requests_log).where(requests_log.c.id > after_id).order_by(requests_log.c.id)
    with db.begin_read() as conn:
        rows = conn.execute(query).all()
    return [
        LoggedRequest(
            **{
                **row._asdict(),
                "body": None if row.body is None else json.loads(row.body),
                "form": None if row.form is None else json.loads(row.form),
            }
        )
        for row in rows
    ]


def log_request(response: Response) -> Response:
    """after_request: log who asked (scheme and client id, never a secret), what, and the status."""
    if request.path.startswith("/_control"):
        return response
    box = current_app.extensions["sandbox"]
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    auth, client_id = ("other" if scheme else "none"), None
    if scheme.lower() == "basic" and request.authorization is not None:
        auth, client_id = "basic", request.authorization.username
    elif scheme.lower() == "bearer":
        client = credentials.check_token(box.db, value.strip())
        auth, client_id = "bearer", client.public_key if client else None
    elif "client_id" in request.form:
        auth, client_id = "form", request.form.get("client_id")
    form = {k: v for k, v in request.form.items() if k != "client_secret"} or None
    body: Any = None
    if not request.form and (raw := request.get_data(as_text=True)):
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw[:2000]
    with box.db.begin_write() as conn:
        conn.execute(
            requests_log.insert().values(
                at_ms=now_ms(),
                method=request.method,
                path=request.path,
                auth=auth,
                client_id=client_id,
                body=None if body is None else json.dumps(body),
                form=None if form is None else json.dumps(form),
                status=response.status_code,
            )
        )
    return response


@blueprint.before_request
def _guard() -> None:
    auth = request.authorization
    if auth is None or auth.type != "basic":
        raise Refused(401, "Authentication credentials were not provided.")
    db = current_app.extensions["sandbox"].db
    if credentials.check_keys(db, auth.username or "", auth.password or "") is None:
        raise Refused(401, "Invalid username/password.")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused(400, "send a JSON object")
    return body


@blueprint.get("/requests")
def requests_seen() -> Response:
    """The request log (no secrets), oldest first; ?after=ID for newer ones only."""
    rows = current_app.extensions["sandbox"].requests(request.args.get("after", 0, type=int))
    return jsonify([row.to_json() for row in rows])


@blueprint.get("/deliveries")
def deliveries() -> Response:
    """Every webhook delivery attempt, oldest first."""
    return jsonify(
        [attempt.to_json() for attempt in current_app.extensions["sandbox"].deliveries()]
    )


@blueprint.route("/faults", methods=["GET", "POST"])
def fault_switches() -> Response:
    """Read or change the fault switches (rate_limit, fail_next, fail_status, …)."""
    changes = _body() if request.method == "POST" else {}
    try:
        current = current_app.extensions["sandbox"].faults(**changes)
    except ValueError as exc:
        raise Refused(400, str(exc)) from exc
    return jsonify(asdict(current))


@blueprint.get("/integrations/<int:integration_id>")
def integration(integration_id: int) -> Response:
    """The stored integration, including the panel-only `oauth2_only` flag."""
    row = current_app.extensions["sandbox"].integration(integration_id)
    if row is None:
        raise IntegrationNotFound(integration_id)
    return jsonify(row)


@blueprint.post("/integrations/<int:integration_id>/panel")
def panel(integration_id: int) -> Response:
    """Change the integration "in the Sendcloud panel" (emits integration_updated)."""
    fields = _body()
    notify = bool(fields.pop("notify", True))
    box = current_app.extensions["sandbox"]
    return jsonify(box.panel_update(integration_id, notify=notify, **fields))


@blueprint.post("/trigger")
def trigger() -> Response:
    """Deliver one signed webhook to the integration's configured webhook URL now."""
    options = _body()
    action = str(options.pop("action", ""))
    integration_id = int(options.pop("integration_id", 1))
    # No `url` here: over HTTP the sandbox only ever POSTs to the configured webhook URL.
    options.pop("url", None)
    attempt = current_app.extensions["sandbox"].trigger(
        action, integration_id=integration_id, **options
    )
    return jsonify(attempt.to_json())
