"""`flask --app app reconcile`: correct stored parcel states from Sendcloud's parcels list."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from bootstrap.errors import BootstrapError
from bootstrap.services import services
from receivers.errors import StorageUnavailable


@click.command("reconcile")
@click.option(
    "--since", metavar="ISO-8601", help="Read parcels changed after this (UTC if no zone)."
)
@click.option("--dry-run", is_flag=True, help="Count what would be corrected; record nothing.")
@with_appcontext
def reconcile_command(since: str | None, dry_run: bool) -> None:
    """Read the parcels Sendcloud changed since the last run (API v2 GET /parcels) and record
    every status we missed. Exit codes: 0 done, 1 failed (the message says why)."""
    try:
        start = datetime.fromisoformat(since) if since else None
    except ValueError as exc:
        raise click.ClickException(f"--since {since!r} is not an ISO-8601 date and time") from exc
    try:
        read, corrected = services(current_app).reconciler.run(
            start if start is None or start.tzinfo else start.replace(tzinfo=UTC), dry_run
        )
    except (BootstrapError, StorageUnavailable) as exc:
        hint = f"\nHint: {exc.hint}" if isinstance(exc, BootstrapError) and exc.hint else ""
        raise click.ClickException(f"reconciliation stopped: {exc}{hint}") from exc
    said = " (dry run: nothing recorded)" if dry_run else ""
    click.echo(f"{read} parcels read, {corrected} states corrected{said}")
