"""Test helpers for the relay: a loopback consumer that verifies like a shop would."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from standardwebhooks.webhooks import Webhook
from werkzeug.wrappers import Request

import receivers
from bootstrap.sandbox import LoopbackServer


@dataclass(frozen=True)
class Delivered:
    """One POST the consumer received."""

    body: bytes
    headers: dict[str, str]
    at: float

    @property
    def webhook_id(self) -> str:
        """The Standard Webhooks message id."""
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> Any:
        """The envelope, after standardwebhooks' own verify (raises if the signature is wrong)."""
        return Webhook(secret).verify(self.body, self.headers)


class Consumer:
    """A shop system on loopback: answers `statuses` in turn (then `default`), after `delay`."""

    def __init__(self, default: int = 200, delay: float = 0.0) -> None:
        self.received: list[Delivered] = []
        self.statuses: list[int] = []
        self.default = default
        self.delay = delay
        self.location = "http://127.0.0.1:9/elsewhere"
        # Bodies containing this text get 500 while `failures_left` > 0.
        self.fail_text = b""
        self.failures_left = 0
        self._arrived = threading.Condition()
        self._server = LoopbackServer(self._wsgi)
        self.url = self._server.url + "/hook"

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        body = request.get_data()
        time.sleep(self.delay)
        with self._arrived:
            self.received.append(
                Delivered(body, {k.lower(): v for k, v in request.headers.items()}, time.time())
            )
            status = self.statuses.pop(0) if self.statuses else self.default
            if self.fail_text and self.fail_text in body and self.failures_left > 0:
                self.failures_left -= 1
                status = 500
            self._arrived.notify_all()
        start_response(f"{status} X", [("Content-Type", "text/plain"), ("Location", self.location)])
        return [b"consumer says " + str(status).encode()]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Delivered]:
        """Wait until `count` POSTs arrived; return them all."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def envelopes(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in arrival order."""
        return [json.loads(d.body) for d in self.received]

    def stop(self) -> None:
        """Stop the server."""
        self._server.stop()


@pytest.fixture
def consumers() -> Iterator[Callable[..., Consumer]]:
    """Start loopback consumers; all are stopped after the test."""
    started: list[Consumer] = []

    def start(default: int = 200, delay: float = 0.0) -> Consumer:
        started.append(Consumer(default, delay))
        return started[-1]

    yield start
    for consumer in started:
        consumer.stop()


def auth(app: Flask) -> dict[str, str]:
    """The operator's Bearer header for `app`."""
    return {"Authorization": f"Bearer {receivers.services(app).guard.token.value}"}


def add_destination(app: Flask, url: str, **fields: Any) -> dict[str, Any]:
    """POST /api/destinations; returns the answer (with the secret)."""
    response = app.test_client().post(
        "/api/destinations", json={"url": url, **fields}, headers=auth(app)
    )
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def deliveries(app: Flask, destination_id: int) -> list[dict[str, Any]]:
    """GET /api/destinations/<id>/deliveries, newest first."""
    response = app.test_client().get(
        f"/api/destinations/{destination_id}/deliveries", headers=auth(app)
    )
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.get_json()["deliveries"]
    return found


def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll `check` until it returns something truthy, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
