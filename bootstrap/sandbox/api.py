"""The emulated Sendcloud as one Flask app: OAuth2 tokens, integrations (API v2 and v3), the
Service Points API's carriers, with Sendcloud's and Hydra's error bodies."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from bootstrap.sandbox import catcher, control, credentials, faults, integrations, parcels
from bootstrap.sandbox import v3 as v3_api
from bootstrap.sandbox.errors import IntegrationNotFound, Refused, TriggerFailed, ValidationFailed
from bootstrap.sandbox.runtime import Sandbox
from receivers.errors import StorageUnavailable

blueprint = Blueprint("sandbox_api", __name__)

NOT_FOUND = "No Integration matches the given query."
INVALID_CLIENT = (
    "Client authentication failed (e.g., unknown client, no client authentication included, "
    "or unsupported authentication method)."
)
INVALID_REQUEST = (
    "The request is missing a required parameter, includes an invalid parameter value, "
    "includes a parameter more than once, or is otherwise malformed."
)
INVALID_SCOPE = "The requested scope is invalid, unknown, or malformed."
_ONE_METHODS = ["GET", "PATCH", "PUT", "DELETE"]


def create_sandbox_app(box: Sandbox) -> Flask:
    """A separate Flask app that answers like Sendcloud, plus the control API."""
    app = Flask("bootstrap.sandbox")
    # Keep Sendcloud's field order in bodies (jsonify sorts keys by default).
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider attribute
    app.extensions["sandbox"] = box
    app.register_blueprint(blueprint)
    app.register_blueprint(catcher.blueprint)
    app.register_blueprint(parcels.blueprint)
    app.register_blueprint(control.blueprint, url_prefix="/_control")
    app.before_request(faults.before_request)
    app.after_request(control.log_request)
    app.register_error_handler(Exception, _handle)
    return app


def _box() -> Sandbox:
    found: Sandbox = current_app.extensions["sandbox"]
    return found


def v2_error(code: int, message: str) -> Response:
    """Sendcloud's v2 envelope: {"error": {"code", "request", "message"}}."""
    body = {"error": {"code": code, "request": request.path.lstrip("/"), "message": message}}
    response = jsonify(body)
    response.status_code = code
    if code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def oauth_error(code: int, error: str, description: str, hint: str | None = None) -> Response:
    """Hydra's token errors in fosite's legacy format, the one in Sendcloud's published schema:
    error, error_description, error_hint (only when there is one), status_code."""
    body = {"error": error, "error_description": description, "error_hint": hint}
    response = jsonify({k: v for k, v in body.items() if v is not None} | {"status_code": code})
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response


def _handle(exc: Exception) -> Response:
    if request.path.startswith("/api/v3") and (answer := v3_api.error_answer(exc)) is not None:
        return answer
    if isinstance(exc, Refused):
        return v2_error(exc.code, exc.message)
    if isinstance(exc, IntegrationNotFound):
        return v2_error(404, NOT_FOUND)
    if isinstance(exc, ValidationFailed | TriggerFailed):
        return v2_error(400, str(exc))
    if isinstance(exc, StorageUnavailable):
        return v2_error(503, "Service temporarily unavailable.")
    if isinstance(exc, HTTPException):
        code = exc.code or 500
        if request.path.startswith("/oauth2"):
            return oauth_error(code, "invalid_request", INVALID_REQUEST, exc.description)
        if code == 405:
            return v2_error(405, f'Method "{request.method}" not allowed.')
        return v2_error(code, "Not found." if code == 404 else exc.name)
    current_app.logger.exception("sandbox_internal_error path=%s", request.path)
    return v2_error(500, "Internal server error.")


@blueprint.post("/oauth2/token")
# Sendcloud's OpenAPI securitySchemes spell the token URL with a trailing slash.
@blueprint.post("/oauth2/token/")
def token() -> Response:
    """client_credentials grant; the client authenticates by HTTP Basic or form fields."""
    # Checked in fosite's (Hydra's) order: body, grant_type, client, then grant and scope.
    if not request.get_data():
        return oauth_error(
            400, "invalid_request", INVALID_REQUEST, "The POST body can not be empty."
        )
    grant_type = request.form.get("grant_type")
    if not grant_type:
        hint = "Request parameter 'grant_type' is missing"
        return oauth_error(400, "invalid_request", INVALID_REQUEST, hint)
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        client_id, client_secret = auth.username, auth.password
    else:
        client_id, client_secret = request.form.get("client_id"), request.form.get("client_secret")
    client = (
        credentials.check_keys(_box().db, client_id, client_secret or "") if client_id else None
    )
    if client is None:
        return oauth_error(401, "invalid_client", INVALID_CLIENT)
    if grant_type != "client_credentials":
        # fosite: a grant type no handler serves is a plain invalid_request.
        return oauth_error(400, "invalid_request", INVALID_REQUEST)
    scopes = request.form.get("scope", "").split()
    if refused := [scope for scope in scopes if scope != "api"]:
        hint = f"The OAuth 2.0 Client is not allowed to request scope '{refused[0]}'."
        return oauth_error(400, "invalid_scope", INVALID_SCOPE, hint)
    scope, lifetime = " ".join(scopes), _box().config.token_lifetime
    token = credentials.issue_token(_box().db, client, scope, lifetime)
    response = jsonify(
        {"access_token": token, "expires_in": lifetime, "scope": scope, "token_type": "bearer"}
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _json_body(v3: bool) -> Any:
    try:
        return json.loads(request.get_data(as_text=True))
    except ValueError as exc:
        said = "JSON decode error:" if v3 else "JSON parse error -"
        raise Refused(400, f"{said} {exc}") from exc


# Both spellings, as clients write either (Sendcloud's docs omit the trailing slash).
@blueprint.get("/api/v2/integrations")
@blueprint.get("/api/v2/integrations/")
@blueprint.get("/api/v3/integrations", defaults={"v3": True})
def list_integrations(v3: bool = False) -> Response:
    """All integrations of the account: a bare JSON array (v3: in "data", no pagination keys)."""
    credentials.authenticate(_box().db)
    with _box().db.begin_read() as conn:
        rows = integrations.all_rows(conn, None if v3 else request.args.get("ordering"))
    if v3:
        return jsonify({"data": [v3_api.as_v3(row) for row in rows]})
    return jsonify([integrations.as_integration(row) for row in rows])


@blueprint.route("/api/v2/integrations/<int:integration_id>", methods=_ONE_METHODS)
@blueprint.route("/api/v2/integrations/<int:integration_id>/", methods=_ONE_METHODS)
@blueprint.route(
    "/api/v3/integrations/<int:integration_id>",
    methods=["GET", "PATCH", "DELETE"],
    defaults={"v3": True},
)
def one_integration(integration_id: int, v3: bool = False) -> Response:
    """GET, PATCH (partial), PUT (v2 only: all writable fields) or DELETE one integration;
    v3 answers in "data", and a PATCH with 204 (webhook_url may be null)."""
    credentials.authenticate(_box().db)
    box = _box()
    if request.method == "DELETE":
        box.delete(integration_id)
        return Response(status=204)
    row = box.integration(integration_id)
    if row is None:
        raise IntegrationNotFound(integration_id)
    if request.method == "GET":
        return jsonify({"data": v3_api.as_v3(row)} if v3 else integrations.as_integration(row))
    partial = request.method == "PATCH"
    row = box.update(integration_id, _json_body(v3), partial=partial, v3=v3)
    return Response(status=204) if v3 else jsonify(integrations.as_update(row))


# Sendcloud serves this from its Service Points API host (servicepoints.sendcloud.sc/api/v2).
@blueprint.get("/servicepoints/api/v2/carriers")
def carriers() -> Response:
    """The carrier codes this account offers for service points: a bare JSON array."""
    credentials.authenticate(_box().db)
    return jsonify(list(integrations.OFFERED_CARRIERS))
