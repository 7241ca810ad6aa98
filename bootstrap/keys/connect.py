"""Connecting Sendcloud with keys from the page or the API: parse, check live, then store."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from bootstrap.errors import BootstrapError, IntegrationNotFound
from bootstrap.keys.live import LiveConfiguration
from bootstrap.keys.store import StoredKeys, effective_env, keys_in_environment, last4
from bootstrap.onboarding.addresses import checked_public_url
from bootstrap.onboarding.inputs import InvalidInput
from bootstrap.sendcloud.client import SendcloudClient
from bootstrap.sendcloud.schemas import Integration
from bootstrap.settings import load_bootstrap_settings

IN_ENVIRONMENT = (
    "The Sendcloud keys come from the environment (SENDCLOUD_PUBLIC_KEY, SENDCLOUD_SECRET_KEY), "
    "which wins over keys entered here: change them there."
)


def parse_keys(body: Mapping[str, Any], env: Mapping[str, str], need_id: bool) -> StoredKeys:
    """The keys of a form or JSON body; raise InvalidInput naming every problem."""
    problems = []
    public_key, secret_key = (str(body.get(n) or "").strip() for n in ("public_key", "secret_key"))
    if not public_key or not secret_key:
        problems.append("Enter both the public key and the secret key of the integration.")
    auth = str(body.get("auth") or "oauth2")
    if auth not in ("oauth2", "basic"):
        problems.append("auth must be 'oauth2' or 'basic'.")
    raw_id = str(body.get("integration_id") or "").strip()
    if need_id and not raw_id:
        problems.append("integration_id is missing: the id of the integration to manage.")
    elif raw_id and not (raw_id.isdigit() and int(raw_id) > 0):
        problems.append(f"integration_id must be a positive whole number, got {raw_id!r}.")
    # PUBLIC_URL wins, so an address typed here is only kept without it.
    public_url = None if env.get("PUBLIC_URL") else str(body.get("public_url") or "").strip()
    if public_url:
        try:
            public_url = checked_public_url(public_url)
        except ValueError as exc:
            problems.append(f"This service's public address: {exc}.")
    if problems:
        raise InvalidInput(problems)
    integration_id = int(raw_id) if raw_id else None
    return StoredKeys(public_key, secret_key, auth, integration_id, public_url or None)


def visible_integrations(live: LiveConfiguration, keys: StoredKeys) -> list[Integration]:
    """Ask Sendcloud with `keys` (a token fetch, then GET /integrations): what they can see."""
    probe = dataclasses.replace(keys, integration_id=keys.integration_id or 1)
    client = SendcloudClient(load_bootstrap_settings(effective_env(live.env, probe)))
    try:
        return client.list_integrations()
    finally:
        client.close()


def connect(live: LiveConfiguration, keys: StoredKeys) -> None:
    """Check `keys` live, then store them (encrypted). Nothing is stored when Sendcloud refuses
    them or they cannot see the chosen integration."""
    if keys_in_environment(live.env):
        raise BootstrapError(IN_ENVIRONMENT)
    found = visible_integrations(live, keys)
    old = live.store.load()
    if keys.integration_id is None and old and old.integration_id in {i.id for i in found}:
        keys = dataclasses.replace(keys, integration_id=old.integration_id)  # a replacement
    if keys.integration_id is not None and keys.integration_id not in {i.id for i in found}:
        raise IntegrationNotFound(
            f"These keys cannot see integration {keys.integration_id}: pick one of "
            + (", ".join(f"{i.id} ({i.shop_name or 'unnamed'})" for i in found) or "none")
        )
    settings = live.current().settings
    live.store.save(keys, settings.integration_id if settings.sandbox else None)
    live.refresh()


def described(live: LiveConfiguration) -> dict[str, Any]:
    """Where the keys come from (`environment`/`stored`/`none`), the integration, and the
    keys' last 4 characters only."""
    from_env = keys_in_environment(live.env)
    stored = None if from_env else live.store.load()
    shown = live.current().settings if from_env else stored
    return {
        "source": "environment" if from_env else "stored" if stored else "none",
        **{name: getattr(shown, name, None) for name in ("integration_id", "auth", "public_url")},
        "public_key_last4": last4(getattr(shown, "public_key", None)),
        "secret_key_last4": last4(getattr(shown, "secret_key", None)),
    }


def page_context(live: LiveConfiguration, request_base: str) -> dict[str, Any]:
    """`described`, plus what the page's keys section needs: the integrations to pick from
    while stored keys wait for their shop, and whether to ask for the public address."""
    context = described(live)
    context["pending"] = context["source"] == "stored" and context["integration_id"] is None
    context["ask_public_url"] = not live.env.get("PUBLIC_URL", "").strip()
    guess = request_base if request_base.startswith("https:") else ""
    context["public_url"] = context["public_url"] or guess
    context["choices"], context["choices_error"] = [], None
    if context["pending"] and (stored := live.store.load()) is not None:
        try:
            context["choices"] = visible_integrations(live, stored)
        except BootstrapError as exc:
            context["choices_error"] = str(exc)
    return context
