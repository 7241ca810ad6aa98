"""Telling Sendcloud where to send webhooks, and proving that it worked."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

import receivers
from bootstrap import cli, onboarding
from bootstrap.attempts.store import AttemptStore
from bootstrap.bootstrapper import Bootstrapper
from bootstrap.keys.live import LiveConfiguration
from bootstrap.keys.store import KeyStore
from bootstrap.migrations import MIGRATIONS
from bootstrap.reconcile.cli import reconcile_command
from bootstrap.reconcile.reconciler import Reconciler
from bootstrap.sendcloud.client import SendcloudClient
from bootstrap.services import BootstrapServices
from bootstrap.settings import BootstrapSettings
from bootstrap.watch import Watcher
from receivers.access import OperatorToken
from receivers.db import Database
from receivers.signature import SigningKeys

__all__ = ["MIGRATIONS", "init_app"]


def init_app(
    app: Flask,
    settings: BootstrapSettings,
    db: Database,
    token: OperatorToken,
    env: Mapping[str, str],
    store: KeyStore,
) -> None:
    """Build the Sendcloud client and the use-case; register the commands and the onboarding."""
    receiving = receivers.services(app)

    def build(effective: BootstrapSettings, keys: SigningKeys) -> BootstrapServices:
        if effective.integration_id is None:
            raise ValueError("the bootstrap needs an integration id")
        client = SendcloudClient(effective)
        watcher = Watcher(client, AttemptStore(db), receiving.store, effective.integration_id)
        reconciler = Reconciler(client, receiving.receiver, db, effective.reconcile_backfill_days)
        watcher.attempts.on_verified.append(reconciler.after_verified)
        bootstrapper = Bootstrapper(watcher, keys.current)
        return BootstrapServices(effective, token, bootstrapper, watcher, reconciler)

    live = LiveConfiguration(env, store, build, settings, receiving.receiver)
    # Verified integration events reaching any worker update the attempt at once.
    receiving.listeners.append(live.on_delivery)
    app.extensions["bootstrap"] = live
    app.extensions["on_shutdown"].append(live.close)
    app.cli.add_command(cli.bootstrap_command)
    app.cli.add_command(reconcile_command)
    onboarding.init_app(app, settings, token)
