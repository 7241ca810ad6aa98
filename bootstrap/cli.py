"""`flask --app app bootstrap`: the headless bootstrap, its dry run, undo and drift check."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from bootstrap.attempts.state import STEP_LABELS, AttemptState
from bootstrap.desired import Chosen
from bootstrap.errors import BootstrapError
from bootstrap.onboarding.addresses import dev_server_base
from bootstrap.owned import OwnedSettings
from bootstrap.services import BootstrapServices, services
from bootstrap.settings import parse_carriers
from receivers.errors import StorageUnavailable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_WEBHOOK = 3
EXIT_DRIFT = 4

DEV_SERVER = "the address of `flask --app app run` (sandbox mode, nothing applied yet)"
_MARKS = {"done": "[ok]", "skipped": "[--]", "failed": "[!!]", "running": "[..]"}


def _on_step(name: str, status: str, detail: str) -> None:
    # Only the long wait is announced while running; other steps print when they end.
    if status == "running" and name != "webhook_received":
        return
    label = STEP_LABELS.get(name, name)
    click.echo(f"{_MARKS.get(status, '[??]')} {label}: {detail}" if detail else f"  {label}")


def _desired(found: BootstrapServices, chosen: Chosen | None) -> OwnedSettings:
    """The desired settings, printed with where each value comes from."""
    # Sandbox mode before anything was applied: where `flask run` serves (never this
    # command's own loopback port, which is gone once it exits).
    fallback = (dev_server_base(os.environ), DEV_SERVER) if found.settings.sandbox else None
    wanted = found.desired(fallback, chosen)
    click.echo("Desired settings:")
    for name, value in wanted.settings.to_json().items():
        shown = "left as it is at Sendcloud" if value is None else repr(value)
        click.echo(f"  {name}: {shown} ({wanted.sources[name]})")
    return wanted.settings


def _echo_problem(message: str, hint: str | None) -> None:
    click.echo(f"Error: {message}", err=True)
    if hint:
        click.echo(f"Hint: {hint}", err=True)


def _finish(state: AttemptState, wait_seconds: float) -> int:
    if state.state == "verified":
        verb = "Restored" if state.kind == "undo" else "Verified"
        click.echo(f"{verb}: integration {state.integration_id} is configured ({state.state}).")
        return EXIT_OK
    if state.state == "timed_out":
        click.echo(
            f"Applied, but no webhook from Sendcloud arrived within {wait_seconds:g} s "
            f"(state {state.state})."
        )
        if state.hint:
            click.echo(f"Hint: {state.hint}")
        return EXIT_NO_WEBHOOK
    _echo_problem(
        f"{state.message or 'the bootstrap did not finish'} (state {state.state})", state.hint
    )
    return EXIT_FAILED


def _dry_run(found: BootstrapServices, chosen: Chosen | None) -> int:
    plan = found.bootstrapper.plan(_desired(found, chosen))
    name = f" ({plan.shop_name})" if plan.shop_name else ""
    if not plan.changes:
        click.echo(f"Integration {plan.integration_id}{name} is already configured; no change.")
        return EXIT_OK
    click.echo(f"Planned change of integration {plan.integration_id}{name} (dry run, not sent):")
    for change in plan.changes:
        click.echo(f"  {change.name}: {change.current!r} -> {change.desired!r}")
    return EXIT_OK


def _check(found: BootstrapServices, chosen: Chosen | None) -> int:
    iid = found.settings.integration_id
    changes = found.watcher.check(_desired(found, chosen))
    if changes is None:
        click.echo(f"Drift: integration {iid} no longer exists at Sendcloud.")
        return EXIT_DRIFT
    if changes:
        click.echo(f"Drift: integration {iid} differs from the desired settings:")
        for change in changes:
            click.echo(f"  {change.name}: live {change.current!r}, desired {change.desired!r}")
        return EXIT_DRIFT
    click.echo(f"No drift: integration {iid} matches the desired settings.")
    return EXIT_OK


def _apply(found: BootstrapServices, wait_seconds: float, chosen: Chosen | None) -> int:
    wanted = _desired(found, chosen)
    click.echo(
        f"Bootstrapping Sendcloud integration {found.settings.integration_id} "
        f"({found.settings.auth}); webhook URL {wanted.webhook_url}"
    )
    return _finish(found.bootstrapper.run(wanted, wait_seconds, on_step=_on_step), wait_seconds)


def _chosen(carriers: str | None, no_service_points: bool) -> Chosen | None:
    if carriers is None:
        return (False, (), "--no-service-points") if no_service_points else None
    codes, problems = parse_carriers(carriers)
    if no_service_points or problems or not codes:
        raise click.UsageError(
            "; ".join(problems)
            or "--carriers needs carrier codes (e.g. --carriers ups,dhl) and "
            "does not go with --no-service-points"
        )
    return (True, codes, "--carriers")


@click.command("bootstrap")
@click.option("--dry-run", is_flag=True, help="Print the planned change and exit; send nothing.")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0, max=3600),
    default=60.0,
    show_default=True,
    help="Seconds to wait for Sendcloud's webhook (the round-trip proof).",
)
@click.option("--undo", is_flag=True, help="Restore the settings recorded before the last change.")
@click.option("--check", is_flag=True, help="Compare the live settings only; exit 4 on drift.")
@click.option(
    "--carriers",
    metavar="A,B",
    help="Service points on with these carrier codes; once applied, the desired ones.",
)
@click.option(
    "--no-service-points",
    is_flag=True,
    help="Service points off; once applied, the desired setting.",
)
@with_appcontext
def bootstrap_command(
    dry_run: bool,
    wait_seconds: float,
    undo: bool,
    check: bool,
    carriers: str | None,
    no_service_points: bool,
) -> None:
    """Point the Sendcloud integration at this service and prove the round trip.

    The desired settings are the ones last applied from any surface (the onboarding page,
    its API or this command); the environment only seeds the first plan.

    Exit codes: 0 verified (or already configured and verified), 1 failed,
    3 applied but no webhook arrived in time, 4 drift (--check).
    """
    if sum((dry_run, undo, check)) > 1:
        raise click.UsageError("use only one of --dry-run, --undo and --check")
    chosen = _chosen(carriers, no_service_points)
    if undo and chosen:
        raise click.UsageError("--undo restores the recorded settings: it takes no carriers")
    found = services(current_app)
    try:
        if dry_run:
            code = _dry_run(found, chosen)
        elif check:
            code = _check(found, chosen)
        elif undo:
            code = _finish(found.bootstrapper.undo(on_step=_on_step), 0)
        else:
            code = _apply(found, wait_seconds, chosen)
    except BootstrapError as exc:
        _echo_problem(str(exc), exc.hint)
        code = EXIT_FAILED
    except StorageUnavailable as exc:
        _echo_problem(str(exc), "Check DATABASE_URL and that the database is running.")
        code = EXIT_FAILED
    click.get_current_context().exit(code)
