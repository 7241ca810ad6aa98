"""Connecting Sendcloud with keys from the page or the API: parse, check live, then store."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from bootstrap.errors import BootstrapError, IntegrationNotFound
from bootstrap.keys.live import LiveConfiguration
from bootstrap.keys.store import (
    StoredKeys,
    effective_env,
    keys_in_environment,
    last4,
    load_quietly,
)
from bootstrap.onboarding.addresses import checked_public_url
from bootstrap.onboarding.inputs import InvalidInput
from bootstrap.sendcloud.client import SendcloudClient
from bootstrap.sendcloud.schemas import Integration
from bootstrap.settings import load_bootstrap_settings

IN_ENVIRONMENT = (
    "The Sendcloud keys come from the environment (SENDCLOUD_PUBLIC_KEY, SENDCLOUD_SECRET_KEY), "
    "which wins over keys entered here: change them there."
)


class KeysInEnvironment(BootstrapError):
    """Keys are set in the environment, so stored ones would never be used."""


def parse_keys(body: Mapping[str, Any], env: Mapping[str, str]) -> StoredKeys:
    """The keys of a form or JSON body; raise InvalidInput naming every problem."""
    problems = []
    public_key, secret_key = (str(body.get(n) or "").strip() for n in ("public_key", "secret_key"))
    if not public_key or not secret_key:
        problems.append("Enter both the public key and the secret key of the integration.")
    auth = str(body.get("auth") or "oauth2")
    if auth not in ("oauth2", "basic"):
        problems.append("auth must be 'oauth2' or 'basic'.")
    raw_id, integration_id = str(body.get("integration_id") or "").strip(), None
    if raw_id.isdigit() and int(raw_id) > 0:
        integration_id = int(raw_id)
    elif raw_id:
        problems.append(f"integration_id must be a positive whole number, got {raw_id!r}.")
    public_url = str(body.get("public_url") or "").strip() or None
    if public_url and not env.get("PUBLIC_URL", "").strip():
        try:
            public_url = checked_public_url(public_url)
        except ValueError as exc:
            problems.append(f"{str(exc)[0].upper()}{str(exc)[1:]}.")
    if problems:
        raise InvalidInput(problems)
    return StoredKeys(public_key, secret_key, auth, integration_id, public_url)


def visible_integrations(live: LiveConfiguration, keys: StoredKeys) -> list[Integration]:
    """Ask Sendcloud with `keys` (a token fetch, then GET /integrations): what they can see."""
    probe = dataclasses.replace(keys, integration_id=keys.integration_id or 1)
    client = SendcloudClient(load_bootstrap_settings(effective_env(live.env, probe)))
    try:
        return client.list_integrations()
    finally:
        client.close()


def connect(live: LiveConfiguration, keys: StoredKeys) -> list[Integration]:
    """Check `keys` live, then store them (encrypted); returns the integrations they see.

    Nothing is stored when Sendcloud refuses them or cannot see the chosen integration.
    """
    if keys_in_environment(live.env):
        raise KeysInEnvironment(IN_ENVIRONMENT)
    found = visible_integrations(live, keys)
    if keys.integration_id is not None and keys.integration_id not in {i.id for i in found}:
        raise IntegrationNotFound(
            f"These keys cannot see integration {keys.integration_id}: pick one of "
            + (", ".join(f"{i.id} ({i.shop_name or 'unnamed'})" for i in found) or "none")
        )
    live.store.save(keys, leaving_sandbox=live.current().settings.sandbox)
    live.refresh()
    return found


def page_context(live: LiveConfiguration, request_base: str) -> dict[str, Any]:
    """What the page's keys section shows: where the keys come from, their last 4 characters,
    and once stored keys wait for their shop, the integrations to pick from."""
    stored = None if keys_in_environment(live.env) else load_quietly(live.store)
    settings = live.current().settings
    shown = stored or settings
    context: dict[str, Any] = {
        "source": "environment"
        if keys_in_environment(live.env)
        else "stored"
        if stored
        else "none",
        "pending": stored is not None and stored.integration_id is None,
        "public_last4": last4(shown.public_key),
        "secret_last4": last4(shown.secret_key),
        "auth": shown.auth,
        "ask_public_url": not live.env.get("PUBLIC_URL", "").strip(),
        "public_url": (stored and stored.public_url)
        or (request_base if request_base.startswith("https://") else ""),
        "choices": [],
        "choices_error": None,
    }
    if stored is not None and stored.integration_id is None:
        try:
            context["choices"] = visible_integrations(live, stored)
        except BootstrapError as exc:
            context["choices_error"] = str(exc)
    return context
