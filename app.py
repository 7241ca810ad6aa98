"""Application factory: reads the configuration, builds the collaborators, wires the packages."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

import bootstrap
import receivers
import receivers.relay
from bootstrap import sandbox
from bootstrap.keys.store import KeyStore, effective_env
from bootstrap.settings import BootstrapSettings, load_bootstrap_settings
from receivers.access import OperatorToken
from receivers.db import Database
from receivers.errors import ConfigurationError, StorageUnavailable
from receivers.relay import RelaySettings, load_relay_settings
from receivers.settings import ReceiverSettings, load_receiver_settings

log = logging.getLogger("app")


def create_app(env: Mapping[str, str] | None = None, instance_path: str | None = None) -> Flask:
    """Build the service from `env` (default: the process environment)."""
    environ: Mapping[str, str] = os.environ if env is None else env
    app = Flask(__name__, instance_path=instance_path)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )

    receiver_settings, bootstrap_settings, relay_settings = _load_settings(
        environ, Path(app.instance_path)
    )
    db = Database(receiver_settings.database_url)
    # Callables that stop background threads and close pools, last registered first
    # (tests and embedding code call them; gunicorn simply ends the process).
    app.extensions["on_shutdown"] = [db.dispose]
    migrations = [receivers.MIGRATIONS, bootstrap.MIGRATIONS]
    try:
        db.upgrade(migrations)
    except StorageUnavailable as exc:
        if bootstrap_settings.sandbox:
            raise ConfigurationError([f"sandbox mode needs its database: {exc}"]) from exc
        # Start anyway: /readyz reports 503 and retries the upgrade until the database is back.
        log.error("database_unavailable_at_start error=%s", exc)

    app.config["SECRET_KEY"] = bootstrap_settings.flask_secret_key or _stored_or_ephemeral(
        db, "flask_secret_key"
    )
    # Keys stored on the onboarding page count when the environment has none.
    store = KeyStore(db, app.config["SECRET_KEY"])
    if (effective := effective_env(environ, store.load())) is not environ:
        receiver_settings, bootstrap_settings, _ = _load_settings(
            effective, Path(app.instance_path)
        )

    emulated = None
    if bootstrap_settings.sandbox:
        # No Sendcloud keys: the built-in emulator plays Sendcloud, and signs with its keys.
        emulated, bootstrap_settings = sandbox.start(app, bootstrap_settings, db, environ)
        receiver_settings = dataclasses.replace(
            receiver_settings, webhook_secret=bootstrap_settings.secret_key
        )

    # The session (onboarding access, CSRF token) rides a signed cookie: HttpOnly, Lax keeps
    # it off cross-site POSTs, Secure whenever the request came over https.
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = _SessionCookies()
    app.after_request(_strict_transport)
    app.config["MAX_CONTENT_LENGTH"] = receiver_settings.max_body_bytes
    token = _operator_token(bootstrap_settings, db)

    receivers.init_app(app, receiver_settings, db, migrations, token)
    bootstrap.init_app(app, bootstrap_settings, db, token, environ, store)
    relay_settings = dataclasses.replace(relay_settings, sandbox=bootstrap_settings.sandbox)
    receivers.relay.init_app(app, relay_settings, db)
    # Always registered: outside sandbox mode it explains that it is not available.
    app.cli.add_command(sandbox.sandbox_cli)

    # The middleware stack, innermost first: the sandbox mounted at /sandbox (sandbox mode
    # only), then the proxies in front. Only TRUSTED_PROXY_HOPS hops of X-Forwarded-* are
    # believed, so a client talking to us directly cannot choose the webhook URL we register.
    if emulated is not None:
        app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]  # Flask's documented way to mount
            app.wsgi_app, {sandbox.MOUNT: sandbox.create_sandbox_app(emulated)}
        )
    if hops := bootstrap_settings.trusted_proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # Flask's documented way to wrap
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    return app


class _SessionCookies(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def _strict_transport(response: Response) -> Response:
    """Served over https: browsers keep to https for this host from now on."""
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _load_settings(
    environ: Mapping[str, str], instance_path: Path
) -> tuple[ReceiverSettings, BootstrapSettings, RelaySettings]:
    """Load every package's settings and report all their problems in one message."""
    problems: list[str] = []
    loaded: list[Any] = []
    for load in (
        functools.partial(load_receiver_settings, environ, instance_path),
        functools.partial(load_bootstrap_settings, environ),
        functools.partial(load_relay_settings, environ),
    ):
        try:
            loaded.append(load())
        except ConfigurationError as exc:
            problems.extend(exc.problems)
    if problems or len(loaded) < 3:
        raise ConfigurationError(problems)
    return loaded[0], loaded[1], loaded[2]


def _operator_token(settings: BootstrapSettings, db: Database) -> OperatorToken:
    """ONBOARDING_TOKEN, or the one generated once and shared by every worker and instance."""
    if settings.onboarding_token:
        return OperatorToken(settings.onboarding_token)
    fresh = secrets.token_urlsafe(32)
    try:
        value = db.stored_value("onboarding_token", lambda: fresh)
    except StorageUnavailable as exc:
        raise ConfigurationError(
            [f"ONBOARDING_TOKEN is not set and cannot be generated and stored: {exc}"]
        ) from exc
    return OperatorToken(value, generated_now=value == fresh)


def _stored_or_ephemeral(db: Database, name: str) -> str:
    """A generated secret shared by all workers; per-process only while the database is down."""
    try:
        return db.stored_value(name, lambda: secrets.token_urlsafe(32))
    except StorageUnavailable:
        return secrets.token_urlsafe(32)
