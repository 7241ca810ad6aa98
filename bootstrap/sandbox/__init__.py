"""The built-in Sendcloud sandbox: stands in for Sendcloud when no keys are configured.

Product code never reaches it unless `BootstrapSettings.sandbox` is true, which only
happens when neither SENDCLOUD_PUBLIC_KEY nor SENDCLOUD_SECRET_KEY is set.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from collections.abc import Mapping

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from bootstrap.sandbox.api import create_sandbox_app
from bootstrap.sandbox.config import SandboxConfig, load_sandbox_config
from bootstrap.sandbox.runtime import Sandbox
from bootstrap.sandbox.tables import MIGRATIONS
from bootstrap.sandbox.twin import LoopbackServer
from bootstrap.settings import BootstrapSettings
from receivers.db import Database
from receivers.settings import ReceiverSettings

__all__ = [
    "MIGRATIONS",
    "SANDBOX_INTEGRATION_ID",
    "LoopbackServer",
    "Sandbox",
    "SandboxConfig",
    "create_sandbox_app",
    "init_app",
    "receiver_settings_for",
    "sandbox_of",
]

log = logging.getLogger(__name__)

SANDBOX_INTEGRATION_ID = 1
MOUNT = "/sandbox"


def init_app(
    app: Flask,
    settings: BootstrapSettings,
    db: Database,
    env: Mapping[str, str] | None = None,
) -> BootstrapSettings:
    """Provision the sandbox, mount it at /sandbox, start the twin; return effective settings."""
    config = load_sandbox_config(os.environ if env is None else env)
    # Generated once and stored: every worker and instance sees the same keys.
    public_key = db.stored_value("sandbox_public_key", lambda: "sandbox-" + secrets.token_hex(8))
    secret_key = db.stored_value("sandbox_secret_key", lambda: secrets.token_urlsafe(32))
    integration_id = settings.integration_id or SANDBOX_INTEGRATION_ID
    box = Sandbox(db, config)
    box.install(public_key, secret_key, integration_id)

    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]  # Flask's documented way to mount
        app.wsgi_app, {MOUNT: create_sandbox_app(box)}
    )
    # The twin serves this very app on loopback, so the product's Sendcloud client (and, in
    # a CLI process, the receiver) is reachable even where no server runs (flask CLI).
    twin = LoopbackServer(app)
    box.local_url = twin.url
    box.worker.start()
    app.extensions["sandbox"] = box
    app.extensions.setdefault("on_shutdown", []).extend([box.worker.stop, twin.stop])
    log.info(
        "sandbox_started integration_id=%s api_url=%s%s/api/v2",
        integration_id,
        twin.url,
        MOUNT,
    )
    return dataclasses.replace(
        settings,
        integration_id=integration_id,
        public_key=public_key,
        secret_key=secret_key,
        api_url=f"{twin.url}{MOUNT}/api/v2",
        token_url=f"{twin.url}{MOUNT}/oauth2/token",
        local_url=twin.url,
    )


def sandbox_of(app: Flask) -> Sandbox | None:
    """The sandbox running in `app`, or None outside sandbox mode."""
    found: Sandbox | None = app.extensions.get("sandbox")
    return found


def receiver_settings_for(
    receiver: ReceiverSettings, settings: BootstrapSettings
) -> ReceiverSettings:
    """In sandbox mode webhooks are signed with the sandbox integration's secret key."""
    return dataclasses.replace(receiver, webhook_secret=settings.secret_key)
