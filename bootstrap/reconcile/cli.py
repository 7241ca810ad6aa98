"""`flask --app app reconcile`: correct stored parcel states from Sendcloud's parcels list."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from bootstrap.errors import BootstrapError
from bootstrap.reconcile.reconciler import Reconciler
from receivers.errors import StorageUnavailable


def reconciler(app: Flask) -> Reconciler:
    """The reconciler of `app`."""
    found: Reconciler = app.extensions["reconcile"]
    return found


@click.command("reconcile")
@click.option(
    "--since", metavar="ISO-8601", help="Read parcels changed after this (UTC if no zone)."
)
@click.option("--dry-run", is_flag=True, help="Count what would be corrected; record nothing.")
@with_appcontext
def reconcile_command(since: str | None, dry_run: bool) -> None:
    """Read the parcels Sendcloud changed since the last run (API v2 GET /parcels) and record
    every status we missed. Exit codes: 0 done, 1 failed (the message says why)."""
    found = reconciler(current_app)
    ctx = click.get_current_context()
    start = None
    if since:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            click.echo(f"Error: --since {since!r} is not an ISO-8601 date/time", err=True)
            ctx.exit(1)
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    try:
        result = found.run(start, dry_run=dry_run)
    except (BootstrapError, StorageUnavailable) as exc:
        click.echo(f"Error: reconciliation stopped: {exc}", err=True)
        if hint := getattr(exc, "hint", None):
            click.echo(f"Hint: {hint}", err=True)
        ctx.exit(1)
    said = " (dry run: nothing recorded)" if dry_run else ""
    click.echo(f"{result.read} parcels read, {result.corrected} states corrected{said}")
