"""The `sendcloud` fixture: a standalone Sendcloud sandbox on a loopback port, for real-keys tests.

Point the product at it with `sendcloud.env()`; assert on what it received with
`sendcloud.requests()`; inject faults with `sendcloud.faults(...)`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from bootstrap.sandbox import LoopbackServer, Sandbox, SandboxConfig, create_sandbox_app, faults
from bootstrap.sandbox.control import LoggedRequest
from bootstrap.sandbox.integrations import as_integration
from bootstrap.sandbox.outbox import DeliveryAttempt
from receivers.db import Database


class SendcloudSandbox:
    """An emulated Sendcloud with its own SQLite file, known keys and the seeded integration 1."""

    def __init__(self, directory: Path, config: SandboxConfig | None = None) -> None:
        self.db = Database(f"sqlite:///{directory / 'sendcloud-sandbox.sqlite3'}")
        self.public_key = "sandbox-public-" + secrets.token_hex(4)
        self.secret_key = secrets.token_urlsafe(24)
        self.integration_id = 1
        self.sandbox = Sandbox(self.db, config)
        self.sandbox.install(self.public_key, self.secret_key, self.integration_id)
        self._server = LoopbackServer(create_sandbox_app(self.sandbox))
        self.sandbox.worker.start()
        self.url = self._server.url
        self.api_url = f"{self.url}/api/v2"
        self.api_url_v3 = f"{self.url}/api/v3"
        self.service_points_url = f"{self.url}/servicepoints/api/v2"
        self.token_url = f"{self.url}/oauth2/token"

    def env(self, auth: str = "oauth2", api: str = "v2") -> dict[str, str]:
        """The SENDCLOUD_* variables that point the product at this sandbox (API v2 or v3)."""
        return {
            "SENDCLOUD_PUBLIC_KEY": self.public_key,
            "SENDCLOUD_SECRET_KEY": self.secret_key,
            "SENDCLOUD_INTEGRATION_ID": str(self.integration_id),
            "SENDCLOUD_API_URL": self.api_url_v3 if api == "v3" else self.api_url,
            "SENDCLOUD_SERVICE_POINTS_URL": self.service_points_url,
            "SENDCLOUD_TOKEN_URL": self.token_url,
            "SENDCLOUD_AUTH": auth,
        }

    def configure(self, **changes: Any) -> None:
        """Change `token_lifetime` (seconds) or `retry_scale` (1.0 = Sendcloud's real schedule)."""
        self.sandbox.configure(**changes)

    def requests(self, path: str | None = None, method: str | None = None) -> list[LoggedRequest]:
        """Requests the sandbox answered, oldest first; optionally only those under `path`."""
        return [
            r
            for r in self.sandbox.requests()
            if (path is None or r.path.startswith(path))
            and (method is None or r.method == method.upper())
        ]

    def integration(self) -> dict[str, Any] | None:
        """The integration as GET /integrations/{id} shows it, or None once deleted."""
        row = self.sandbox.integration(self.integration_id)
        return None if row is None else as_integration(row)

    def oauth2_only(self) -> bool:
        """Whether "Use OAuth2 authentication" is ticked (Basic auth then fails)."""
        row = self.sandbox.integration(self.integration_id)
        return bool(row and row["oauth2_only"])

    def faults(self, **changes: Any) -> faults.Faults:
        """Set fault switches: rate_limit, fail_next, fail_status, fail_body, fail_path,
        latency_ms, drop_webhooks. Returns the current switches."""
        return self.sandbox.faults(**changes)

    def panel_update(self, **fields: Any) -> dict[str, Any]:
        """Change the integration as its owner would in the panel; emits integration_updated."""
        return as_integration(self.sandbox.panel_update(self.integration_id, **fields))

    def set_integration(self, **fields: Any) -> dict[str, Any]:
        """Like panel_update but silent (no webhook): for test set-up."""
        row = self.sandbox.panel_update(self.integration_id, notify=False, **fields)
        return as_integration(row)

    def trigger(self, action: str, **options: Any) -> DeliveryAttempt:
        """Deliver one signed webhook now (url=… overrides the configured webhook URL)."""
        return self.sandbox.trigger(action, integration_id=self.integration_id, **options)

    def deliveries(self) -> list[DeliveryAttempt]:
        """Every webhook delivery attempt so far, oldest first."""
        return self.sandbox.deliveries()

    def wait_for_deliveries(self, count: int, timeout: float = 10.0) -> list[DeliveryAttempt]:
        """Wait until at least `count` delivery attempts were made; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries()
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def close(self) -> None:
        """Stop the delivery thread and the server; close the database."""
        self.sandbox.worker.stop()
        self._server.stop()
        self.db.dispose()


class CapturedWebhook:
    """One POST the catcher received: the raw body bytes and the headers."""

    def __init__(self, body: bytes, headers: dict[str, str]) -> None:
        self.body = body
        self.headers = headers


class WebhookCatcher:
    """A tiny loopback receiver that keeps every POST; answers `statuses` in turn, then 200."""

    def __init__(self) -> None:
        self.received: list[CapturedWebhook] = []
        self.statuses: list[int] = []
        self._arrived = threading.Condition()
        self._server = LoopbackServer(self._wsgi)
        self.url = self._server.url + "/hook"

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
        with self._arrived:
            self.received.append(CapturedWebhook(body, headers))
            status = self.statuses.pop(0) if self.statuses else 200
            self._arrived.notify_all()
        start_response(f"{status} X", [("Content-Type", "text/plain")])
        return [b"ok"]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[CapturedWebhook]:
        """Wait until `count` POSTs arrived (woken by each arrival); return them all."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def stop(self) -> None:
        """Stop the server."""
        self._server.stop()


@pytest.fixture
def webhook_catcher() -> Iterator[WebhookCatcher]:
    """A loopback receiver that records every webhook POSTed to `.url`."""
    catcher = WebhookCatcher()
    yield catcher
    catcher.stop()


@pytest.fixture
def sendcloud(tmp_path: Path) -> Iterator[SendcloudSandbox]:
    """A standalone Sendcloud sandbox on a loopback port (see SendcloudSandbox)."""
    directory = tmp_path / "sendcloud"
    directory.mkdir()
    box = SendcloudSandbox(directory)
    yield box
    box.close()


@pytest.fixture
def product(
    make_app: Callable[..., Flask],
    base_env: dict[str, str],
    sendcloud: SendcloudSandbox,
    live_server: Callable[..., LoopbackServer],
) -> Callable[..., Flask]:
    """Build the product in real-keys mode against the sandbox (API `api`), served on loopback."""

    def build(auth: str = "oauth2", api: str = "v2", **extra: str) -> Flask:
        server = live_server()
        env = {
            **base_env,
            **sendcloud.env(auth, api),
            "PUBLIC_URL": server.url,
            "SERVICE_POINT_CARRIERS": "ups,dhl",
            "SENDCLOUD_RETRY_BUDGET": "3",
            **extra,
        }
        app = server.app = make_app(env)
        return app

    return build
