"""Receiving Sendcloud webhooks: signature check, durable store, handling and views."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from flask import Flask

from receivers import api, cli, error_handlers, health, webhook
from receivers.access import OperatorToken, TokenGuard
from receivers.db import Database
from receivers.handling import Receiver
from receivers.inbox import Inbox
from receivers.services import Listener, ReceiverServices, services
from receivers.settings import ReceiverSettings
from receivers.signature import SigningKeys
from receivers.store import EventStore
from receivers.tables import MIGRATIONS

__all__ = ["MIGRATIONS", "ReceiverServices", "init_app", "services"]

log = logging.getLogger(__name__)


def init_app(
    app: Flask,
    settings: ReceiverSettings,
    db: Database,
    migrations: Sequence[Path],
    token: OperatorToken,
) -> None:
    """Register the receiver's routes and commands on `app`."""
    keys = SigningKeys(settings.webhook_secret, settings.webhook_secret_previous)
    if not keys.current:
        log.error(
            "webhook_secret_missing: no SENDCLOUD_WEBHOOK_SECRET or SENDCLOUD_SECRET_KEY, "
            "so every webhook delivery will be refused with 401 (cannot verify)"
        )
    store = EventStore(db)
    listeners: list[Listener] = []
    receiver = Receiver(keys, Inbox(db), store, listeners)
    app.extensions["receivers"] = ReceiverServices(
        settings=settings,
        db=db,
        migrations=migrations,
        guard=TokenGuard(token, db),
        store=store,
        receiver=receiver,
        listeners=listeners,
    )
    # Refusal counts still in memory are written when the app is shut down.
    app.extensions.setdefault("on_shutdown", []).append(receiver.rejections.flush)
    # The webhook path is served in front of Flask (why: receivers/webhook.py).
    app.wsgi_app = webhook.WebhookRoute(  # type: ignore[method-assign]  # Flask's documented way to wrap
        app.wsgi_app, receiver, settings.max_body_bytes
    )
    for blueprint in (health.blueprint, api.blueprint):
        app.register_blueprint(blueprint)
    error_handlers.init_app(app)
    app.cli.add_command(cli.db_cli)
    app.cli.add_command(cli.events_command)
