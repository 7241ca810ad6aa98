"""The emulated API v2 integrations endpoints, with Basic or Bearer authentication."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from bootstrap.sandbox import credentials, integrations
from bootstrap.sandbox.envelope import Refused, sandbox
from bootstrap.sandbox.errors import IntegrationNotFound

blueprint = Blueprint("sandbox_integrations", __name__)

_ONE_METHODS = ["GET", "PATCH", "PUT", "DELETE"]


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
