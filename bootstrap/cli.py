"""`flask --app app bootstrap`: the headless bootstrap, its dry run, undo and drift check."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from bootstrap.attempts.state import STEP_LABELS, AttemptState
from bootstrap.errors import BootstrapError, PublicUrlUnknown
from bootstrap.owned import OwnedSettings, desired
from bootstrap.services import BootstrapServices, services
from receivers.errors import StorageUnavailable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_WEBHOOK = 3
EXIT_DRIFT = 4

_MARKS = {"done": "[ok]", "skipped": "[--]", "failed": "[!!]", "running": "[..]"}


def _on_step(name: str, status: str, detail: str) -> None:
    # Only the long wait is announced while running; other steps print when they end.
    if status == "running" and name != "webhook_received":
        return
    label = STEP_LABELS.get(name, name)
    click.echo(f"{_MARKS.get(status, '[??]')} {label}: {detail}" if detail else f"  {label}")


def _desired(found: BootstrapServices) -> OwnedSettings:
    settings = found.settings
    base = settings.public_url or settings.local_url
    if not base:
        raise PublicUrlUnknown(
            "PUBLIC_URL is not set, so the command cannot know where Sendcloud should send "
            "webhooks: set PUBLIC_URL=https://<your app's public host>, or use the onboarding "
            "page, which derives it from your browser's request"
        )
    return desired(base, settings.service_point_enabled, settings.service_point_carriers)


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


def _dry_run(found: BootstrapServices) -> int:
    plan = found.bootstrapper.plan(_desired(found))
    name = f" ({plan.shop_name})" if plan.shop_name else ""
    if not plan.changes:
        click.echo(f"Integration {plan.integration_id}{name} is already configured; no change.")
        return EXIT_OK
    click.echo(f"Planned change of integration {plan.integration_id}{name} (dry run, not sent):")
    for change in plan.changes:
        click.echo(f"  {change.name}: {change.current!r} -> {change.desired!r}")
    return EXIT_OK


def _check(found: BootstrapServices) -> int:
    iid = found.settings.integration_id
    changes = found.watcher.check(_desired(found))
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


def _apply(found: BootstrapServices, wait_seconds: float) -> int:
    wanted = _desired(found)
    click.echo(
        f"Bootstrapping Sendcloud integration {found.settings.integration_id} "
        f"({found.settings.auth}); webhook URL {wanted.webhook_url}"
    )
    return _finish(found.bootstrapper.run(wanted, wait_seconds, on_step=_on_step), wait_seconds)


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
@with_appcontext
def bootstrap_command(dry_run: bool, wait_seconds: float, undo: bool, check: bool) -> None:
    """Point the Sendcloud integration at this service and prove the round trip.

    Exit codes: 0 verified (or already configured and verified), 1 failed,
    3 applied but no webhook arrived in time, 4 drift (--check).
    """
    if sum((dry_run, undo, check)) > 1:
        raise click.UsageError("use only one of --dry-run, --undo and --check")
    found = services(current_app)
    try:
        if dry_run:
            code = _dry_run(found)
        elif check:
            code = _check(found)
        elif undo:
            code = _finish(found.bootstrapper.undo(on_step=_on_step), 0)
        else:
            code = _apply(found, wait_seconds)
    except BootstrapError as exc:
        _echo_problem(str(exc), exc.hint)
        code = EXIT_FAILED
    except StorageUnavailable as exc:
        _echo_problem(str(exc), "Check DATABASE_URL and that the database is running.")
        code = EXIT_FAILED
    click.get_current_context().exit(code)
