"""The onboarding URL: the operator's page, its JSON API, and how the operator finds the URL."""

from __future__ import annotations

from flask import Flask

from bootstrap.keys import views as keys_views
from bootstrap.onboarding import api, cli, views
from bootstrap.settings import BootstrapSettings
from receivers.access import OperatorToken


def init_app(app: Flask, settings: BootstrapSettings, token: OperatorToken) -> None:
    """Register the onboarding page, its API and command; log where the page is."""
    app.register_blueprint(views.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(keys_views.blueprint)
    app.cli.add_command(cli.onboarding_url_command)
    cli.log_onboarding_url(settings, token)
