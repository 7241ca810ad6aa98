"""`flask --app app onboarding-url`: prints the onboarding URL, token included."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from bootstrap.onboarding.addresses import known_base, onboarding_url
from bootstrap.onboarding.context import context


@click.command("onboarding-url")
@click.option(
    "--base-url",
    metavar="URL",
    help="The service's address to put in front of the path (default: PUBLIC_URL).",
)
@with_appcontext
def onboarding_url_command(base_url: str | None) -> None:
    """Print the onboarding URL (it grants access: share it only with the shop's operator)."""
    found = context(current_app)
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
