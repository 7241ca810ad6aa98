"""`GET/PUT/DELETE /api/credentials`: the Sendcloud keys the service stores (Bearer token)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from bootstrap.errors import IntegrationNotFound, SendcloudAuthError, SendcloudError
from bootstrap.keys.connect import IN_ENVIRONMENT, KeysInEnvironment, connect, parse_keys
from bootstrap.keys.live import LiveConfiguration
from bootstrap.keys.store import keys_in_environment, last4, load_quietly
from bootstrap.onboarding.access import api_token_required
from bootstrap.onboarding.inputs import InvalidInput
from bootstrap.services import live_configuration

blueprint = Blueprint("credentials_api", __name__)


def described(live: LiveConfiguration) -> dict[str, Any]:
    """Where the keys come from, the integration, and the keys' last 4 characters only."""
    auth: str | None
    if keys_in_environment(live.env):
        settings = live.current().settings
        source, public, secret = "environment", settings.public_key, settings.secret_key
        integration_id, auth, url = settings.integration_id, settings.auth, settings.public_url
    elif (stored := load_quietly(live.store)) is not None:
        source, public, secret = "stored", stored.public_key, stored.secret_key
        integration_id, auth, url = stored.integration_id, stored.auth, stored.public_url
    else:
        source, public, secret, integration_id, auth, url = "none", None, None, None, None, None
    return {
        "source": source,
        "integration_id": integration_id,
        "auth": auth,
        "public_key_last4": last4(public),
        "secret_key_last4": last4(secret),
        "public_url": url,
    }


@blueprint.get("/api/credentials")
@api_token_required
def show() -> Response:
    """Where the keys come from, never the keys."""
    return jsonify(described(live_configuration(current_app)))


@blueprint.put("/api/credentials")
@api_token_required
def replace() -> Response:
    """Check the keys with Sendcloud, then store them encrypted; 400/409/502 in plain words."""
    live = live_configuration(current_app)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _problem(400, "the body must be a JSON object with public_key and secret_key")
    try:
        keys = parse_keys(body, live.env)
        if keys.integration_id is None:
            raise InvalidInput(["integration_id is missing: the id of the integration to manage."])
        connect(live, keys)
    except InvalidInput as exc:
        return _problem(400, str(exc))
    except KeysInEnvironment as exc:
        return _problem(409, str(exc))
    except (SendcloudAuthError, IntegrationNotFound) as exc:
        return _problem(400, f"Sendcloud did not accept these keys: {exc}")
    except SendcloudError as exc:
        return _problem(502, f"Could not check the keys with Sendcloud: {exc}")
    return jsonify(described(live))


@blueprint.delete("/api/credentials")
@api_token_required
def remove() -> Response:
    """Forget the stored keys (the environment's, if any, stay in effect)."""
    live = live_configuration(current_app)
    if keys_in_environment(live.env):
        return _problem(409, IN_ENVIRONMENT)
    live.store.remove()
    live.refresh()
    return jsonify(described(live))


def _problem(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response
