"""Telling Sendcloud where to send webhooks, and proving that it worked."""

from __future__ import annotations

from flask import Flask

import receivers
from bootstrap import cli, onboarding
from bootstrap.attempts.store import AttemptStore
from bootstrap.bootstrapper import Bootstrapper
from bootstrap.migrations import MIGRATIONS
from bootstrap.reconcile.cli import reconcile_command
from bootstrap.reconcile.reconciler import Reconciler
from bootstrap.sendcloud.client import SendcloudClient
from bootstrap.services import BootstrapServices
from bootstrap.settings import BootstrapSettings
from bootstrap.watch import Watcher
from receivers.access import OperatorToken
from receivers.db import Database

__all__ = ["MIGRATIONS", "init_app"]


def init_app(app: Flask, settings: BootstrapSettings, db: Database, token: OperatorToken) -> None:
    """Build the Sendcloud client and the use-case; register the commands and the onboarding."""
    if settings.integration_id is None:
        raise ValueError("the bootstrap needs an integration id")
    receiving = receivers.services(app)
    client = SendcloudClient(settings)
    watcher = Watcher(client, AttemptStore(db), receiving.store, settings.integration_id)
    bootstrapper = Bootstrapper(watcher, receiving.settings.webhook_secret)
    # Verified integration events reaching any worker update the attempt at once.
    receiving.listeners.append(watcher.on_delivery)
    app.extensions["bootstrap"] = BootstrapServices(settings, token, bootstrapper, watcher)
    reconcile = Reconciler(client, receiving.receiver, db, settings.reconcile_backfill_days)
    watcher.attempts.on_verified.append(reconcile.after_verified)
    app.extensions["reconcile"] = reconcile
    app.extensions["on_shutdown"].extend([bootstrapper.close, reconcile.close])
    app.cli.add_command(cli.bootstrap_command)
    app.cli.add_command(reconcile_command)
    onboarding.init_app(app, settings, token)
