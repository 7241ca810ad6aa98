"""Keys entered by the operator: `GET/PUT/DELETE /api/credentials` (Bearer token) and the
onboarding page's forms (enter keys, pick the shop, remove them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from bootstrap.errors import BootstrapError, IntegrationNotFound, SendcloudAuthError, SendcloudError
from bootstrap.keys.connect import IN_ENVIRONMENT, connect, described, parse_keys
from bootstrap.keys.store import keys_in_environment
from bootstrap.onboarding import views
from bootstrap.onboarding.access import api_token_required, page_token_required
from bootstrap.onboarding.inputs import InvalidInput
from bootstrap.services import live_configuration
from receivers.error_handlers import json_error

blueprint = Blueprint("onboarding_keys", __name__)


def _refusal(body: Mapping[str, Any] | None, need_id: bool) -> tuple[int, str] | None:
    """Check and store the keys in `body`; the status and plain words of a refusal, or None."""
    live = live_configuration(current_app)
    try:
        if body is None:
            raise InvalidInput(["Send a JSON object with public_key and secret_key."])
        connect(live, parse_keys(body, live.env, need_id))
    except InvalidInput as exc:
        return 400, str(exc)
    except (SendcloudAuthError, IntegrationNotFound) as exc:
        return 400, f"Sendcloud did not accept these keys, so nothing was stored: {exc}"
    except SendcloudError as exc:
        return 502, f"Could not check the keys with Sendcloud, so nothing was stored: {exc}"
    except BootstrapError as exc:
        return 409, str(exc)
    return None


@blueprint.get("/api/credentials")
@api_token_required
def show() -> Response:
    """Where the keys come from, never the keys."""
    return jsonify(described(live_configuration(current_app)))


@blueprint.put("/api/credentials")
@api_token_required
def replace() -> Response:
    """Check the keys with Sendcloud, then store them encrypted; 400/409/502 in plain words."""
    body = request.get_json(silent=True)
    refused = _refusal(body if isinstance(body, dict) else None, need_id=True)
    return json_error(refused[1], refused[0]) if refused else show()


@blueprint.delete("/api/credentials")
@api_token_required
def remove() -> Response:
    """Forget the stored keys (the environment's, if any, stay in effect)."""
    live = live_configuration(current_app)
    if keys_in_environment(live.env):
        return json_error(IN_ENVIRONMENT, 409)
    live.store.remove()
    return show()


@blueprint.post("/onboarding/keys")
@page_token_required
def enter() -> Response:
    """Check the typed keys with Sendcloud and store them; then the page asks for the shop."""
    return _page(_refusal(request.form, need_id=False), "keys-saved")


@blueprint.post("/onboarding/keys/integration")
@page_token_required
def choose() -> Response:
    """Use the stored keys for the integration picked by shop name."""
    stored = live_configuration(current_app).store.load()
    picked = {"integration_id": request.form.get("integration_id")}
    body = None if stored is None else {**dataclasses.asdict(stored), **picked}
    return _page(_refusal(body, need_id=True), "connected")


@blueprint.post("/onboarding/keys/remove")
@page_token_required
def forget() -> Response:
    """Forget the stored keys."""
    live = live_configuration(current_app)
    if not keys_in_environment(live.env):
        live.store.remove()
    return views.back_to_page(notice="keys-removed")


def _page(refused: tuple[int, str] | None, notice: str) -> Response:
    if refused:
        return views.render_page(problems=[refused[1]], status=refused[0])
    return views.back_to_page(notice=notice)
