"""Telling Sendcloud where to send webhooks, and proving that it worked."""

from __future__ import annotations

from flask import Flask

from bootstrap.settings import BootstrapSettings
from receivers.access import OperatorToken
from receivers.db import Database, Migration

MIGRATIONS: tuple[Migration, ...] = ()


def init_app(app: Flask, settings: BootstrapSettings, db: Database, token: OperatorToken) -> None:
    """Register the bootstrap's routes and commands on `app`."""
    app.extensions["bootstrap_settings"] = settings
