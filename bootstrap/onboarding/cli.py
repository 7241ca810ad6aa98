"""How the operator finds the onboarding URL: `flask --app app onboarding-url`, and the log."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import click
from flask import current_app
from flask.cli import with_appcontext

from bootstrap.onboarding.addresses import known_base, onboarding_url
from bootstrap.services import services
from bootstrap.settings import BootstrapSettings
from receivers.access import OperatorToken

log = logging.getLogger(__name__)


@click.command("onboarding-url")
@click.option(
    "--base-url",
    metavar="URL",
    help="The service's address to put in front of the path (default: PUBLIC_URL).",
)
@with_appcontext
def onboarding_url_command(base_url: str | None) -> None:
    """Print the onboarding URL (it grants access: share it only with the shop's operator)."""
    found = services(current_app)
    if base_url:
        click.echo(onboarding_url(base_url, found.token.value))
        return
    base, note = known_base(found.settings, os.environ)
    if base is None:
        click.echo(note, err=True)
        click.echo(onboarding_url("", found.token.value))
        return
    if found.settings.public_url is None:
        click.echo(f"({note})", err=True)
    click.echo(onboarding_url(base, found.token.value))


def log_onboarding_url(settings: BootstrapSettings, token: OperatorToken) -> None:
    """Log the full onboarding URL when the token was just made, or when serving in sandbox mode."""
    if not (settings.sandbox or token.generated_now):
        # Production logs go to third parties; a capability URL does not belong there.
        log.info("onboarding_url_available how='flask --app app onboarding-url'")
        return
    # The `flask` command creating the app; None when a server (gunicorn) imports it.
    command = click.get_current_context(silent=True)
    if not token.generated_now and command is not None and command.command.name != "run":
        return  # `flask events`, `flask sandbox trigger`…: not serving, so not the moment for it
    base, note = known_base(settings, _dev_server_environ(command))
    if base is None:
        log.info("onboarding_url path=%s note=%r", onboarding_url("", token.value), note)
        return
    log.info("onboarding_url url=%s note=%r", onboarding_url(base, token.value), note)


def _dev_server_environ(command: click.Context | None) -> Mapping[str, str]:
    """The environment, plus the address given to `flask run` when it is the `command`."""
    # `flask run --port 8000` tells only the server: the logged URL would otherwise say 5000.
    environ = dict(os.environ)
    if command is not None and command.command.name == "run":
        if command.params.get("port") is not None:
            environ["FLASK_RUN_PORT"] = str(command.params["port"])
        if command.params.get("host"):
            environ["FLASK_RUN_HOST"] = str(command.params["host"])
    return environ
