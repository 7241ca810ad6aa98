"""Commands: `flask --app app relay`, `destinations add|list|remove|test`, `prune`."""

from __future__ import annotations

import os
import signal

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from receivers.errors import StorageUnavailable
from receivers.relay import relay_of
from receivers.relay.destinations import RelayError

destinations_cli = AppGroup("destinations", help="Manage the relay's destinations.")


@click.command("relay")
@with_appcontext
def relay_command() -> None:
    """Run the relay dispatcher until stopped (the Procfile's worker)."""
    relay = relay_of(current_app)
    # Acknowledging Sendcloud comes first, forwarding is asynchronous: on a machine shared with
    # the receiver, the relay takes the CPU the receiver leaves idle and catches up after a
    # burst (docs/performance.md).
    os.nice(19)
    # A dyno restart sends SIGTERM: finish the sends in flight and record them (no resends).
    signal.signal(signal.SIGTERM, lambda *_: relay.stop())
    try:
        relay.run()
    except KeyboardInterrupt:
        relay.stop()


@click.command("prune")
@with_appcontext
def prune_command() -> None:
    """Delete events older than EVENT_RETENTION_DAYS that every destination has."""
    found = relay_of(current_app)
    try:
        pruned = found.deliveries.prune()
    except StorageUnavailable as exc:
        raise click.ClickException(f"cannot prune: {exc}") from exc
    click.echo(f"pruned {pruned} event(s) older than {found.settings.retention_days} day(s)")


@destinations_cli.command("add")
@click.argument("url")
@click.option("--actions", default=None, help="Comma-separated actions (default: all recognised).")
@click.option("--description", default="")
@click.option("--include-stale", is_flag=True, help="Also forward events stored as stale.")
@click.option("--include-unrecognised", is_flag=True, help="Also forward unrecognised events.")
def add_command(url: str, actions: str | None, description: str, **flags: bool) -> None:
    """Add a destination; prints its id and its whsec_… signing secret."""
    wanted = [a.strip() for a in actions.split(",") if a.strip()] if actions else None
    try:
        dest = relay_of(current_app).destinations.add(url, wanted, description, **flags)
    except (RelayError, StorageUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"destination {dest.id} added: {dest.url}")
    click.echo(f"signing secret (shown once): {dest.secret}")


@destinations_cli.command("list")
def list_command() -> None:
    """List the destinations."""
    found = relay_of(current_app).destinations.all()
    if not found:
        click.echo("no destinations yet: flask --app app destinations add URL")
    for dest in found:
        actions = ",".join(dest.actions) if dest.actions is not None else "all recognised"
        state = "enabled" if dest.enabled else dest.disabled_reason or "disabled"
        click.echo(f"{dest.id:>4}  {dest.url}  actions={actions}  {state}  {dest.description}")


@destinations_cli.command("remove")
@click.argument("destination_id", type=int)
def remove_command(destination_id: int) -> None:
    """Remove a destination and its deliveries."""
    try:
        relay_of(current_app).destinations.remove(destination_id)
    except RelayError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"destination {destination_id} removed")


@destinations_cli.command("test")
@click.argument("destination_id", type=int)
def test_command(destination_id: int) -> None:
    """Send a signed test event to a destination now; exit 1 unless it answers 2xx."""
    try:
        delivery = relay_of(current_app).send_test(destination_id)
    except RelayError as exc:
        raise click.ClickException(str(exc)) from exc
    last = delivery["attempts"][-1] if delivery["attempts"] else {}
    click.echo(
        f"test delivery {delivery['id']}: {delivery['state']} (status "
        f"{last.get('status_code')}, {last.get('latency_ms')} ms) {last.get('error') or ''}"
    )
    if delivery["state"] != "delivered":
        raise SystemExit(1)
