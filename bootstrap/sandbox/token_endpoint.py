"""The emulated OAuth2 token endpoint (Ory Hydra at account.sendcloud.com): client_credentials."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from bootstrap.sandbox import credentials
from bootstrap.sandbox.envelope import oauth_error, sandbox

blueprint = Blueprint("sandbox_token", __name__)

INVALID_CLIENT = (
    "Client authentication failed (e.g., unknown client, no client authentication included, "
    "or unsupported authentication method)."
)


def _client_credentials() -> tuple[str | None, str | None, str]:
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return auth.username, auth.password, "basic"
    if "client_id" in request.form:
        return request.form.get("client_id"), request.form.get("client_secret", ""), "form"
    return None, None, "none"


@blueprint.post("/oauth2/token")
# Sendcloud's OpenAPI securitySchemes spell the token URL with a trailing slash.
@blueprint.post("/oauth2/token/")
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
