"""Keys entered by the operator: `GET/PUT/DELETE /api/credentials` (Bearer token) and the
onboarding page's forms (enter keys, pick the shop, remove them)."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Response, current_app, jsonify, request

from bootstrap.errors import BootstrapError, IntegrationNotFound, SendcloudAuthError, SendcloudError
from bootstrap.keys.connect import IN_ENVIRONMENT, connect, described, parse_keys
from bootstrap.keys.store import StoredKeys, keys_in_environment
from bootstrap.onboarding import views
from bootstrap.onboarding.access import api_token_required, page_token_required
from bootstrap.onboarding.inputs import InvalidInput
from bootstrap.services import live_configuration

blueprint = Blueprint("onboarding_keys", __name__)


def _connect(keys: StoredKeys | None) -> tuple[int, str] | None:
    """Check and store `keys`; the status and plain words of a refusal, or None."""
    try:
        if keys is None:
            raise InvalidInput(["Enter the keys first, then pick a shop."])
        connect(live_configuration(current_app), keys)
    except InvalidInput as exc:
        return 400, str(exc)
    except (SendcloudAuthError, IntegrationNotFound) as exc:
        return 400, f"Sendcloud did not accept these keys, so nothing was stored: {exc}"
    except SendcloudError as exc:
        return 502, f"Could not check the keys with Sendcloud, so nothing was stored: {exc}"
    except BootstrapError as exc:
        return 409, str(exc)
    return None


def _parsed() -> StoredKeys:
    body = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(body, dict | type(request.form)):
        raise InvalidInput(["The body must be a JSON object with public_key and secret_key."])
    return parse_keys(body, live_configuration(current_app).env)


@blueprint.get("/api/credentials")
@api_token_required
def show() -> Response:
    """Where the keys come from, never the keys."""
    return jsonify(described(live_configuration(current_app)))


@blueprint.put("/api/credentials")
@api_token_required
def replace() -> Response:
    """Check the keys with Sendcloud, then store them encrypted; 400/409/502 in plain words."""
    try:
        keys = _parsed()
        if keys.integration_id is None:
            raise InvalidInput(["integration_id is missing: the id of the integration to manage."])
    except InvalidInput as exc:
        return _problem(400, str(exc))
    refused = _connect(keys)
    return _problem(*refused) if refused else show()


@blueprint.delete("/api/credentials")
@api_token_required
def remove() -> Response:
    """Forget the stored keys (the environment's, if any, stay in effect)."""
    live = live_configuration(current_app)
    if keys_in_environment(live.env):
        return _problem(409, IN_ENVIRONMENT)
    live.store.remove()
    return show()


@blueprint.post("/onboarding/keys")
@page_token_required
def enter() -> Response:
    """Check the typed keys with Sendcloud and store them; then the page asks for the shop."""
    try:
        refused = _connect(_parsed())
    except InvalidInput as exc:
        refused = (400, str(exc))
    if refused:
        return views.render_page(problems=[refused[1]], status=refused[0])
    return views.back_to_page(notice="keys-saved")


@blueprint.post("/onboarding/keys/integration")
@page_token_required
def choose() -> Response:
    """Use the stored keys for the integration picked by shop name."""
    stored, picked = (
        live_configuration(current_app).store.load(),
        request.form.get("integration_id"),
    )
    valid = stored is not None and (picked or "").isdigit() and int(picked or 0) > 0
    refused = _connect(
        dataclasses.replace(stored, integration_id=int(picked or 0)) if stored and valid else None
    )
    if refused:
        return views.render_page(problems=[refused[1]], status=refused[0])
    return views.back_to_page(notice="connected")


@blueprint.post("/onboarding/keys/remove")
@page_token_required
def forget() -> Response:
    """Forget the stored keys."""
    store = live_configuration(current_app).store
    if not keys_in_environment(live_configuration(current_app).env):
        store.remove()
    return views.back_to_page(notice="keys-removed")


def _problem(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response
