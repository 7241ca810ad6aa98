"""The built-in Sendcloud sandbox, reached only when `BootstrapSettings.sandbox` (neither
SENDCLOUD_PUBLIC_KEY nor SENDCLOUD_SECRET_KEY set). Test-only parts: `faults`, `control`."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bootstrap.sandbox.api import create_sandbox_app
from bootstrap.sandbox.cli import sandbox_cli
from bootstrap.sandbox.runtime import DEFAULT_RETRY_SCALE, Sandbox, SandboxConfig, sandbox_of
from bootstrap.settings import BootstrapSettings
from receivers.db import Database
from receivers.errors import ConfigurationError
from receivers.settings import decimal_number, whole_number

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = [
    "MOUNT",
    "LoopbackServer",
    "Sandbox",
    "SandboxConfig",
    "create_sandbox_app",
    "sandbox_cli",
    "sandbox_of",
    "start",
]

log = logging.getLogger(__name__)

SANDBOX_INTEGRATION_ID = 1
MOUNT = "/sandbox"


def start(
    app: Flask, settings: BootstrapSettings, db: Database, env: Mapping[str, str]
) -> tuple[Sandbox, BootstrapSettings]:
    """Provision the sandbox, serve `app` on a loopback twin (the caller mounts the sandbox app at
    MOUNT); return the effective settings."""
    config = load_sandbox_config(env)
    # Generated once and stored: every worker and instance sees the same keys.
    public_key = db.stored_value("sandbox_public_key", lambda: "sandbox-" + secrets.token_hex(8))
    secret_key = db.stored_value("sandbox_secret_key", lambda: secrets.token_urlsafe(32))
    integration_id = settings.integration_id or SANDBOX_INTEGRATION_ID
    box = Sandbox(db, config)
    box.install(public_key, secret_key, integration_id)
    # The twin serves this very app on loopback, so the product's Sendcloud client (and, in
    # a CLI process, the receiver) is reachable even where no server runs (flask CLI).
    twin = LoopbackServer(app)
    box.local_url = twin.url
    box.worker.start()
    app.extensions["sandbox"] = box
    app.extensions["on_shutdown"].extend([box.worker.stop, twin.stop])
    # SENDCLOUD_API_URL ending in /api/v3 picks the version here too.
    api_url = f"{twin.url}{MOUNT}/api/{'v3' if settings.api_v3 else 'v2'}"
    log.info("sandbox_started integration_id=%s api_url=%s", integration_id, api_url)
    return box, dataclasses.replace(
        settings,
        integration_id=integration_id,
        public_key=public_key,
        secret_key=secret_key,
        api_url=api_url,
        service_points_url=f"{twin.url}{MOUNT}/servicepoints/api/v2",
        token_url=f"{twin.url}{MOUNT}/oauth2/token",
    )


def load_sandbox_config(env: Mapping[str, str]) -> SandboxConfig:
    """Read SANDBOX_TOKEN_LIFETIME and SANDBOX_RETRY_SCALE; raise ConfigurationError if bad."""
    problems: list[str] = []
    lifetime = whole_number(
        env,
        "SANDBOX_TOKEN_LIFETIME",
        SandboxConfig.token_lifetime,
        problems,
        what="a number of seconds > 0",
        valid=lambda n: n > 0,
    )
    scale = decimal_number(
        env,
        "SANDBOX_RETRY_SCALE",
        DEFAULT_RETRY_SCALE,
        problems,
        what="a factor > 0 and <= 1 (1 = Sendcloud's real retry schedule)",
        valid=lambda f: 0 < f <= 1,
    )
    if problems:
        raise ConfigurationError(problems)
    return SandboxConfig(token_lifetime=lifetime, retry_scale=scale)


class _QuietHandler(WSGIRequestHandler):
    """No access log: URLs may carry tokens, and the service logs what matters itself."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip werkzeug's per-request access line."""


class LoopbackServer:
    """Serve a WSGI app on 127.0.0.1:<ephemeral port> in a daemon thread until `stop()`; `app`
    may be set after the start (the port is known before the app exists)."""

    def __init__(self, app: WSGIApplication | None = None) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self._serve, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # A short poll keeps stop() quick (tests start and stop many of these).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"loopback-{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()

    def _serve(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"not serving yet"]
        return self.app(environ, start_response)

    def stop(self) -> None:
        """Stop serving, close the socket and wait for the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
