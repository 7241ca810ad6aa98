"""The onboarding page's "connect Sendcloud" forms: enter keys, pick the shop, remove them."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Response, current_app, request

from bootstrap.errors import BootstrapError, IntegrationNotFound, SendcloudAuthError
from bootstrap.keys.connect import KeysInEnvironment, connect, parse_keys
from bootstrap.keys.store import StoredKeys, keys_in_environment, load_quietly
from bootstrap.onboarding import views
from bootstrap.onboarding.access import page_token_required
from bootstrap.onboarding.inputs import InvalidInput
from bootstrap.services import live_configuration

blueprint = Blueprint("onboarding_keys", __name__)


@blueprint.post("/onboarding/keys")
@page_token_required
def enter() -> Response:
    """Check the typed keys with Sendcloud and store them; then the page asks for the shop."""
    try:
        keys = parse_keys(request.form, live_configuration(current_app).env)
    except InvalidInput as exc:
        return views.render_page(problems=list(exc.problems), status=400)
    return _connect(keys, "keys-saved")


@blueprint.post("/onboarding/keys/integration")
@page_token_required
def choose() -> Response:
    """Use the stored keys for the integration picked by shop name."""
    stored = load_quietly(live_configuration(current_app).store)
    picked = request.form.get("integration_id", "")
    if stored is None or not picked.isdigit():
        return views.render_page(problems=["Enter the keys first, then pick a shop."], status=400)
    return _connect(dataclasses.replace(stored, integration_id=int(picked)), "connected")


@blueprint.post("/onboarding/keys/remove")
@page_token_required
def remove() -> Response:
    """Forget the stored keys."""
    live = live_configuration(current_app)
    if not keys_in_environment(live.env):
        live.store.remove()
        live.refresh()
    return views.back_to_page(notice="keys-removed")


def _connect(keys: StoredKeys, notice: str) -> Response:
    try:
        connect(live_configuration(current_app), keys)
    except KeysInEnvironment as exc:
        return views.render_page(problems=[str(exc)], status=409)
    except (SendcloudAuthError, IntegrationNotFound) as exc:
        refused = f"Sendcloud did not accept these keys, so nothing was stored: {exc}"
        return views.render_page(problems=[refused], status=400)
    except BootstrapError as exc:
        return views.render_page(problems=[f"Could not check the keys: {exc}"], status=502)
    return views.back_to_page(notice=notice)
