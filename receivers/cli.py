"""Command-line commands of the receiving side (`flask --app app db upgrade`)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from receivers.errors import StorageUnavailable

db_cli = AppGroup("db", help="Database schema commands.")


@db_cli.command("upgrade")
def upgrade_command() -> None:
    """Create or upgrade the database schema (idempotent, safe to run concurrently)."""
    from receivers import services

    found = services(current_app)
    try:
        applied = found.db.upgrade(found.migrations)
    except StorageUnavailable as exc:
        raise click.ClickException(f"schema upgrade failed: {exc}") from exc
    click.echo("schema upgraded: " + ", ".join(applied) if applied else "schema is up to date")
