"""The relay: forwards every stored Sendcloud event to the shop's own systems, signed."""

from __future__ import annotations

import click
from flask import Flask

from receivers.db import Database
from receivers.relay.deliveries import Deliveries
from receivers.relay.destinations import Destinations
from receivers.relay.sender import Relay
from receivers.relay.settings import RelaySettings, load_relay_settings

__all__ = ["Relay", "RelaySettings", "init_app", "load_relay_settings", "relay_of"]


def init_app(app: Flask, settings: RelaySettings, db: Database) -> Relay:
    """Register the relay's routes and commands; in sandbox mode `flask run` also runs it."""
    # Imported here: they import relay_of from this module.
    from receivers.relay import api, cli

    relay = Relay(Destinations(db, settings), Deliveries(db, settings))
    app.extensions["relay"] = relay
    app.register_blueprint(api.blueprint)
    for command in (cli.relay_command, cli.destinations_cli, cli.prune_command):
        app.cli.add_command(command)
    context = click.get_current_context(silent=True)
    if settings.sandbox and context is not None and context.info_name == "run":
        # The zero-config tour shows the relay working without a second command.
        relay.start()
        app.extensions["on_shutdown"].append(relay.stop)
    return relay


def relay_of(app: Flask) -> Relay:
    """The relay of `app` (its destinations, deliveries and dispatcher)."""
    found: Relay = app.extensions["relay"]
    return found
