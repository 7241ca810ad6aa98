"""Receiving Sendcloud webhooks: signature check, durable store, handling and views."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from flask import Flask

from receivers.access import OperatorToken, TokenGuard
from receivers.db import Database
from receivers.handling import Receiver
from receivers.inbox import Inbox
from receivers.migrations import Migration
from receivers.settings import ReceiverSettings
from receivers.signature import SigningKeys
from receivers.store import EventStore, StoredEvent
from receivers.tables import MIGRATIONS

__all__ = ["MIGRATIONS", "ReceiverServices", "init_app", "services"]

Listener = Callable[[StoredEvent], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceiverServices:
    """What the receiver's views and commands need, built once per app."""

    settings: ReceiverSettings
    db: Database
    migrations: Sequence[Migration]
    guard: TokenGuard
    store: EventStore
    receiver: Receiver
    # Called in the request thread right after a NEW verified delivery is committed;
    # they must be quick, and their exceptions are logged and swallowed.
    listeners: list[Listener] = field(default_factory=list)


def services(app: Flask) -> ReceiverServices:
    """The receiver services of `app`."""
    found: ReceiverServices = app.extensions["receivers"]
    return found


def init_app(
    app: Flask,
    settings: ReceiverSettings,
    db: Database,
    migrations: Sequence[Migration],
    token: OperatorToken,
) -> None:
    """Register the receiver's routes and commands on `app`."""
    from receivers import api, cli, error_handlers, health
    from receivers.endpoint import WebhookEndpoint

    store = EventStore(db)
    inbox = Inbox(db)
    listeners: list[Listener] = []
    keys = SigningKeys(settings.webhook_secret, settings.webhook_secret_previous)
    receiver = Receiver(keys, inbox, store, listeners)
    if not keys.current:
        log.error(
            "webhook_secret_missing: no SENDCLOUD_WEBHOOK_SECRET or SENDCLOUD_SECRET_KEY, "
            "so every webhook delivery will be refused with 401 (cannot verify)"
        )
    app.extensions["receivers"] = ReceiverServices(
        settings=settings,
        db=db,
        migrations=migrations,
        guard=TokenGuard(token),
        store=store,
        receiver=receiver,
        listeners=listeners,
    )
    app.extensions.setdefault("on_shutdown", []).append(inbox.close)
    app.register_blueprint(health.blueprint)
    # The webhook path is served in front of Flask (why: receivers/endpoint.py).
    app.wsgi_app = WebhookEndpoint(  # type: ignore[method-assign]  # Flask's documented way to wrap
        app.wsgi_app, receiver, settings.max_body_bytes
    )
    app.register_blueprint(api.blueprint)
    error_handlers.init_app(app)
    app.cli.add_command(cli.db_cli)
    app.cli.add_command(cli.events_command)
