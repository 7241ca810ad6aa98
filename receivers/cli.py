"""Command-line commands of the receiving side (`flask --app app db upgrade`, `events`)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from receivers.errors import StorageUnavailable
from receivers.services import services

db_cli = AppGroup("db", help="Database schema commands.")


@db_cli.command("upgrade")
def upgrade_command() -> None:
    """Create or upgrade the database schema (idempotent, safe to run concurrently)."""
    found = services(current_app)
    try:
        applied = found.db.upgrade(found.migrations)
    except StorageUnavailable as exc:
        raise click.ClickException(f"schema upgrade failed: {exc}") from exc
    click.echo("schema upgraded: " + ", ".join(applied) if applied else "schema is up to date")


@click.command("events")
@with_appcontext
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--action", default=None, help="Only deliveries of this action.")
def events_command(limit: int, action: str | None) -> None:
    """List stored webhook deliveries, newest first, with their outcome."""
    found = services(current_app)
    try:
        events = found.store.recent(limit, action)
        rejections = found.receiver.rejections.counts()
    except StorageUnavailable as exc:
        raise click.ClickException(f"cannot read the stored deliveries: {exc}") from exc
    if not events:
        click.echo("no deliveries stored yet")
    for event in events:
        entity = (
            f"parcel={event.parcel_id}"
            if event.parcel_id is not None
            else f"integration={event.integration_id}"
            if event.integration_id is not None
            else "-"
        )
        click.echo(
            f"{event.id:>6}  {event.received_at:%Y-%m-%d %H:%M:%S}Z  {event.action:<24} "
            f"{event.outcome:<12} key={event.key:<8} ts={event.event_timestamp}  {entity}"
            + ("" if event.source == "webhook" else f"  source={event.source}")
        )
    if rejections:
        counts = ", ".join(f"{cause}={count}" for cause, count in sorted(rejections.items()))
        click.echo(f"refused deliveries (bad signature): {counts}")
