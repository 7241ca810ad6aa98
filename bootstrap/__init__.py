"""Telling Sendcloud where to send webhooks, and proving that it worked."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

import receivers
from bootstrap.attempts import MIGRATIONS, AttemptStore
from bootstrap.sendcloud_client import SendcloudClient
from bootstrap.settings import BootstrapSettings
from bootstrap.usecase import Bootstrapper
from receivers.access import OperatorToken
from receivers.db import Database

__all__ = ["MIGRATIONS", "BootstrapServices", "init_app", "services"]


@dataclass(frozen=True)
class BootstrapServices:
    """What the bootstrap's views and commands need, built once per app."""

    settings: BootstrapSettings
    db: Database
    token: OperatorToken
    bootstrapper: Bootstrapper
    client: SendcloudClient
    attempts: AttemptStore


def services(app: Flask) -> BootstrapServices:
    """The bootstrap services of `app`."""
    found: BootstrapServices = app.extensions["bootstrap"]
    return found


def init_app(app: Flask, settings: BootstrapSettings, db: Database, token: OperatorToken) -> None:
    """Build the Sendcloud client and the bootstrapper; register commands and views on `app`."""
    from bootstrap import cli, onboarding

    receiving = receivers.services(app)
    client = SendcloudClient(settings)
    attempts = AttemptStore(db)
    bootstrapper = Bootstrapper(
        settings, client, attempts, receiving.store, receiving.settings.webhook_secret
    )
    # Verified integration events reaching any worker update the attempt at once.
    receiving.listeners.append(bootstrapper.on_delivery)
    app.extensions["bootstrap"] = BootstrapServices(
        settings=settings,
        db=db,
        token=token,
        bootstrapper=bootstrapper,
        client=client,
        attempts=attempts,
    )
    app.extensions["on_shutdown"].append(bootstrapper.close)
    app.cli.add_command(cli.bootstrap_command)
    # Onboarding views (helper D) register below this line.
    onboarding.init_app(app, settings, token)
