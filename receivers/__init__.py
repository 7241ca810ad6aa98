"""Receiving Sendcloud webhooks: signature check, durable store, handling and views."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from flask import Flask

from receivers.access import OperatorToken, TokenGuard
from receivers.db import Database, Migration
from receivers.settings import ReceiverSettings
from receivers.store import EventStore, StoredEvent
from receivers.tables import MIGRATIONS

__all__ = ["MIGRATIONS", "ReceiverServices", "init_app", "services"]

Listener = Callable[[StoredEvent], None]


@dataclass(frozen=True)
class ReceiverServices:
    """What the receiver's views and commands need, built once per app."""

    settings: ReceiverSettings
    db: Database
    migrations: Sequence[Migration]
    guard: TokenGuard
    store: EventStore
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
    from receivers import cli, health

    app.extensions["receivers"] = ReceiverServices(
        settings=settings,
        db=db,
        migrations=migrations,
        guard=TokenGuard(token),
        store=EventStore(db),
    )
    app.register_blueprint(health.blueprint)
    app.cli.add_command(cli.db_cli)
