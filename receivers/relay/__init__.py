"""The relay: forwards every stored Sendcloud event to the shop's own systems, signed."""

from __future__ import annotations

from dataclasses import dataclass

import click
from flask import Flask

from receivers.db import Database
from receivers.relay.deliveries import Deliveries
from receivers.relay.destinations import Destinations
from receivers.relay.sender import Relay
from receivers.relay.settings import RelaySettings, load_relay_settings

__all__ = ["Relay", "RelayServices", "RelaySettings", "init_app", "load_relay_settings"]


@dataclass(frozen=True)
class RelayServices:
    """The relay's collaborators, shared by its API, commands and page."""

    settings: RelaySettings
    destinations: Destinations
    deliveries: Deliveries
    relay: Relay


def init_app(app: Flask, settings: RelaySettings, db: Database) -> RelayServices:
    """Register the relay's routes and commands; in sandbox mode `flask run` also runs it."""
    # Imported here: they import relay_services from this module.
    from receivers.relay import api, cli

    destinations = Destinations(db, settings)
    deliveries = Deliveries(db, settings)
    found = RelayServices(settings, destinations, deliveries, Relay(destinations, deliveries))
    app.extensions["relay"] = found
    app.register_blueprint(api.blueprint)
    for command in (cli.relay_command, cli.destinations_cli, cli.prune_command):
        app.cli.add_command(command)
    context = click.get_current_context(silent=True)
    if settings.sandbox and context is not None and context.info_name == "run":
        # The zero-config tour shows the relay working without a second command.
        found.relay.start()
        app.extensions["on_shutdown"].append(found.relay.stop)
    return found


def relay_services(app: Flask) -> RelayServices:
    """The relay services of `app`."""
    found: RelayServices = app.extensions["relay"]
    return found
