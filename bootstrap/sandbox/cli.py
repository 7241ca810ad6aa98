"""`flask --app app sandbox trigger ACTION`: make the sandbox deliver a signed webhook now."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from bootstrap.sandbox.errors import TriggerFailed
from bootstrap.sandbox.runtime import sandbox_of
from bootstrap.sandbox.webhooks import ACTIONS, DEFAULT_PARCEL_NAME

sandbox_cli = AppGroup("sandbox", help="The built-in Sendcloud sandbox (sandbox mode only).")

_PARCEL_ONLY = ("parcel_id", "status_id", "status_message", "tracking_number", "name")


@sandbox_cli.command("trigger")
@click.argument("action", type=click.Choice(ACTIONS))
@click.option("--url", help="Deliver here instead of the integration's webhook URL.")
@click.option("--parcel-id", type=int, help="parcel_status_changed: parcel.id (default 1).")
@click.option("--status-id", type=int, help="parcel_status_changed: parcel.status.id.")
@click.option("--status-message", help="parcel_status_changed: parcel.status.message.")
@click.option("--tracking-number", help="parcel_status_changed: parcel.tracking_number.")
@click.option("--name", help=f"parcel_status_changed: parcel.name (default {DEFAULT_PARCEL_NAME}).")
@click.option("--timestamp", type=int, help="Event timestamp in milliseconds (default: now).")
@click.option("--drop", is_flag=True, help="Lose this webhook: change the parcel, send nothing.")
def trigger_command(action: str, url: str | None, drop: bool, **options: Any) -> None:
    """Deliver one signed webhook of ACTION and print how the receiver answered."""
    box = sandbox_of(current_app)
    if box is None:
        raise click.ClickException(
            "the sandbox is only available in sandbox mode "
            "(when SENDCLOUD_PUBLIC_KEY and SENDCLOUD_SECRET_KEY are not set)"
        )
    chosen = {k: v for k, v in options.items() if v is not None}
    if action != "parcel_status_changed" and set(chosen) & set(_PARCEL_ONLY):
        raise click.ClickException(
            "--parcel-id, --status-id, --status-message, --tracking-number and --name "
            "only apply to parcel_status_changed"
        )
    if drop:
        box.faults(drop_webhooks=box.faults().drop_webhooks + 1)
    try:
        attempt = box.trigger(action, url=url, **chosen)
    except TriggerFailed as exc:
        raise click.ClickException(str(exc)) from exc
    if attempt.state == "dropped":
        click.echo(f"{action} dropped (not sent to {attempt.url}), as if Sendcloud had given up")
        return
    if attempt.ok:
        click.echo(f"{action} delivered to {attempt.url}: HTTP {attempt.status_code}")
        return
    outcome = f"HTTP {attempt.status_code}" if attempt.status_code else attempt.error
    later = " (Sendcloud would retry; the sandbox will)" if attempt.state == "pending" else ""
    raise click.ClickException(f"{action} not accepted by {attempt.url}: {outcome}{later}")
