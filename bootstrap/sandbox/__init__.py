"""The built-in Sendcloud sandbox: stands in for Sendcloud when no keys are configured.

Product code never reaches it unless `BootstrapSettings.sandbox` is true, which only
happens when neither SENDCLOUD_PUBLIC_KEY nor SENDCLOUD_SECRET_KEY is set.
"""

from __future__ import annotations

import dataclasses
import secrets

from flask import Flask

from bootstrap.settings import BootstrapSettings
from receivers.db import Database
from receivers.settings import ReceiverSettings

SANDBOX_INTEGRATION_ID = 1


def init_app(app: Flask, settings: BootstrapSettings, db: Database) -> BootstrapSettings:
    """Provision sandbox keys (shared by all workers) and return the effective settings."""
    public_key = db.stored_value("sandbox_public_key", lambda: "sandbox-" + secrets.token_hex(8))
    secret_key = db.stored_value("sandbox_secret_key", lambda: secrets.token_urlsafe(32))
    return dataclasses.replace(
        settings,
        integration_id=settings.integration_id or SANDBOX_INTEGRATION_ID,
        public_key=public_key,
        secret_key=secret_key,
    )


def receiver_settings_for(
    receiver: ReceiverSettings, settings: BootstrapSettings
) -> ReceiverSettings:
    """In sandbox mode webhooks are signed with the sandbox integration's secret key."""
    return dataclasses.replace(receiver, webhook_secret=settings.secret_key)
