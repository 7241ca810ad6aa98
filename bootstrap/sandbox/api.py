"""The emulated Sendcloud HTTP API: OAuth2 token endpoint and API v2 integrations."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from bootstrap.sandbox import credentials, faults, integrations, requestlog
from bootstrap.sandbox.errors import IntegrationNotFound, ValidationFailed
from bootstrap.sandbox.runtime import Sandbox
from receivers.errors import StorageUnavailable

blueprint = Blueprint("sandbox_api", __name__)

NOT_FOUND = "No Integration matches the given query."
INVALID_CLIENT = (
    "Client authentication failed (e.g., unknown client, no client authentication included, "
    "or unsupported authentication method)."
)
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_ONE_METHODS = ["GET", "PATCH", "PUT", "DELETE"]


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


def _client_credentials() -> tuple[str | None, str | None, str]:
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return auth.username, auth.password, "basic"
    if "client_id" in request.form:
        return request.form.get("client_id"), request.form.get("client_secret", ""), "form"
    return None, None, "none"


@blueprint.post("/oauth2/token")
def token() -> Response:
    """client_credentials grant; the client authenticates by HTTP Basic or form fields."""
    client_id, client_secret, _method = _client_credentials()
    client = None
    if client_id:
        client = credentials.check_keys(sandbox().db, client_id, client_secret or "")
    if client is None:
        return oauth_error(401, "invalid_client", INVALID_CLIENT)
    grant_type = request.form.get("grant_type")
    if not grant_type:
        return oauth_error(
            400,
            "invalid_request",
            "The request is missing a required parameter, includes an invalid parameter value, "
            "includes a parameter more than once, or is otherwise malformed. "
            "Request parameter 'grant_type' is missing.",
        )
    if grant_type != "client_credentials":
        return oauth_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        )
    scopes = request.form.get("scope", "").split()
    if any(scope != "api" for scope in scopes):
        return oauth_error(
            400, "invalid_scope", "The requested scope is invalid, unknown, or malformed."
        )
    issued = credentials.issue_token(
        sandbox().db, client, " ".join(scopes), sandbox().config.token_lifetime
    )
    response = jsonify(
        {
            "access_token": issued.access_token,
            "expires_in": issued.expires_in,
            "scope": issued.scope,
            "token_type": "bearer",
        }
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _authenticate() -> credentials.Client:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    db = sandbox().db
    client = None
    if scheme.lower() == "bearer" and value.strip():
        client = credentials.check_token(db, value.strip())
        if client is not None and "api" not in client.scope.split():
            raise Refused(403, "You do not have permission to perform this action.")
    elif scheme.lower() == "basic" and request.authorization is not None:
        auth = request.authorization
        client = credentials.check_keys(db, auth.username or "", auth.password or "")
        # "Use OAuth2 authentication" ticked in the panel: Basic auth fails from then on.
        if client is not None and not credentials.basic_allowed(db, client):
            client = None
    elif not scheme:
        raise Refused(401, "Authentication credentials were not provided.")
    if client is None:
        raise Refused(401, "Invalid username/password.")
    return client


def _json_body() -> Any:
    raw = request.get_data(as_text=True)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Refused(400, f"JSON parse error - {exc}") from exc


# Both spellings, as clients write either (Sendcloud's docs omit the trailing slash).
@blueprint.get("/api/v2/integrations")
@blueprint.get("/api/v2/integrations/")
def list_integrations() -> Response:
    """All integrations of the account, as a bare JSON array."""
    _authenticate()
    with sandbox().db.begin_read() as conn:
        rows = integrations.all_rows(conn, request.args.get("ordering"))
    return jsonify([integrations.as_integration(row) for row in rows])


@blueprint.route("/api/v2/integrations/<int:integration_id>", methods=_ONE_METHODS)
@blueprint.route("/api/v2/integrations/<int:integration_id>/", methods=_ONE_METHODS)
def one_integration(integration_id: int) -> Response:
    """GET, PATCH (partial), PUT (all writable fields) or DELETE one integration."""
    _authenticate()
    box = sandbox()
    if request.method == "GET":
        row = box.integration(integration_id)
        if row is None:
            raise IntegrationNotFound(integration_id)
        return jsonify(integrations.as_integration(row))
    if request.method == "DELETE":
        box.delete(integration_id)
        return Response(status=204)
    if box.integration(integration_id) is None:
        raise IntegrationNotFound(integration_id)
    row = box.update(integration_id, _json_body(), partial=request.method == "PATCH")
    return jsonify(integrations.as_update(row))


def _before() -> Response | None:
    if request.path.startswith("/_control"):
        return None
    db = sandbox().db
    current = faults.read(db)
    if current.latency_ms:
        time.sleep(current.latency_ms / 1000)
    forced = faults.take_forced_failure(db, request.path)
    if forced is not None:
        status, body = forced
        return Response(body, status=status, mimetype="text/plain")
    limited = current.rate_limit and request.method in UNSAFE
    if limited and request.path.startswith("/api/") and faults.over_rate_limit(db):
        response = Response(status=429)
        # Sendcloud answers a throttled call with an empty body and no content type.
        del response.headers["Content-Type"]
        return response
    return None


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


def _after(response: Response) -> Response:
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
    from bootstrap.sandbox import control

    app = Flask("bootstrap.sandbox")
    # Keep Sendcloud's field order in bodies (jsonify sorts keys by default).
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider attribute
    app.extensions["sandbox"] = box
    app.register_blueprint(blueprint)
    app.register_blueprint(control.blueprint, url_prefix="/_control")
    app.before_request(_before)
    app.after_request(_after)
    app.register_error_handler(Exception, _handle)
    return app
