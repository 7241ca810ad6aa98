"""The onboarding URL: the operator's page, its JSON API, and how the operator finds the URL."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from bootstrap.onboarding import api, views
from bootstrap.onboarding.addresses import known_base, onboarding_url
from bootstrap.onboarding.cli import onboarding_url_command
from bootstrap.onboarding.context import OnboardingContext
from bootstrap.onboarding.sessions import CachedSessionInterface
from bootstrap.settings import BootstrapSettings
from receivers.access import OperatorToken

log = logging.getLogger(__name__)


def init_app(app: Flask, settings: BootstrapSettings, token: OperatorToken) -> None:
    """Register the onboarding page, its API and command; trust the configured proxies."""
    app.extensions["onboarding"] = OnboardingContext(settings=settings, token=token)
    if settings.trusted_proxy_hops:
        # Heroku's router (and most proxies) say the original scheme and host in
        # X-Forwarded-*; only the configured number of hops is believed, so a client
        # talking to us directly cannot choose the webhook URL we register.
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # Flask's documented way to wrap
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    # The CSRF token lives in the signed session cookie; Lax keeps it off cross-site POSTs.
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.session_interface = CachedSessionInterface()
    app.register_blueprint(views.blueprint)
    app.register_blueprint(api.blueprint)
    app.cli.add_command(onboarding_url_command)
    log_onboarding_url(settings, token)


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
    """The environment, plus the address given to `flask run` when it is the `command`.

    `flask run --port 8000` passes its port to the server only, not through the environment,
    so without this the logged URL would name port 5000 while the page is on 8000.
    """
    environ = dict(os.environ)
    if command is not None and command.command.name == "run":
        if command.params.get("port") is not None:
            environ["FLASK_RUN_PORT"] = str(command.params["port"])
        if command.params.get("host"):
            environ["FLASK_RUN_HOST"] = str(command.params["host"])
    return environ
