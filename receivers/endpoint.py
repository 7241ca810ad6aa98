"""`POST /webhooks/sendcloud` as a small WSGI app in front of Flask (contract in the README).

Every other path goes on to Flask. This path skips Flask's request machinery (request and
app contexts, routing, session, signals, Response objects) because under load it cost more
than everything the receiver itself does: on the 2-vCPU reference machine the same receiver
answered 0.36 (PostgreSQL) and 0.28 (SQLite) of a bare Flask endpoint's rate as a Flask
view, and 0.46 and 0.40 served from here, with the SQLite p99 down from ~100 to ~35 ms
(README, *Benchmark*). The logic stays in `handling.Receiver`, which knows nothing of WSGI.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from receivers.error_handlers import INTERNAL_ERROR
from receivers.errors import StorageUnavailable, where
from receivers.handling import Receiver
from receivers.signature import SignatureRejected

log = logging.getLogger(__name__)

PATH = "/webhooks/sendcloud"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Headers = list[tuple[str, str]]

# Pre-encoded: the success answers are the same for every delivery.
_JSON = ("Content-Type", "application/json")
_STORED = b'{"status": "stored"}'
_DUPLICATE = b'{"status": "duplicate"}'


class TooLarge(Exception):
    """The body is over the configured limit; nothing of it is used."""


class BadBody(Exception):
    """The body cannot be read as declared (its length, or the client went away)."""


class WebhookEndpoint:
    """Serves the webhook path from `receiver`; hands every other request to `inner`."""

    def __init__(self, inner: WSGIApp, receiver: Receiver, max_body_bytes: int) -> None:
        self.inner = inner
        self.receiver = receiver
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != PATH:
            return self.inner(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            message = f"method {environ.get('REQUEST_METHOD')} is not allowed here (allowed: POST)"
            return _error(start_response, 405, message, [("Allow", "POST")])
        try:
            return self._receive(environ, start_response)
        except Exception as exc:  # noqa: BLE001 (a bug: logged below, answered in plain words)
            # Type and place only: the message may carry payload values.
            log.error(
                "unhandled_error method=POST path=%s error=%s where=%s",
                PATH,
                type(exc).__name__,
                where(exc),
            )
            return _error(start_response, 500, INTERNAL_ERROR)

    def _receive(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            body = self._body(environ)
        except TooLarge:
            message = f"request body is larger than the {self.max_body_bytes} byte limit"
            return _error(start_response, 413, message)
        except BadBody as exc:
            return _error(start_response, 400, str(exc))
        try:
            # The raw bytes, unparsed: the signature covers exactly these (any content type).
            receipt = self.receiver.receive(body, environ.get("HTTP_SENDCLOUD_SIGNATURE"))
        except SignatureRejected as exc:
            return _error(start_response, 401, f"signature rejected: {exc}")
        except StorageUnavailable as exc:
            # Not acknowledged, so Sendcloud delivers it again later.
            log.warning("storage_unavailable method=POST path=%s error=%s", PATH, exc)
            message = "storage unavailable, delivery not stored; retry later"
            return _error(start_response, 503, message, [("Retry-After", "30")])
        answer = _DUPLICATE if receipt.duplicate else _STORED
        start_response("200 OK", [_JSON, ("Content-Length", str(len(answer)))])
        return [answer]

    def _body(self, environ: dict[str, Any]) -> bytes:
        """The whole body, refused unread when its declared length is over the limit."""
        stream = environ["wsgi.input"]
        declared = environ.get("CONTENT_LENGTH")
        if declared:
            if not declared.isdigit():
                raise BadBody("the Content-Length header is not a number")
            length = int(declared)
            if length > self.max_body_bytes:
                raise TooLarge
            data = _read(stream, length)
            if len(data) < length:
                raise BadBody("the request body ended before its Content-Length")
            return data
        if environ.get("wsgi.input_terminated"):
            # Chunked: the server ends the stream; read one byte past the limit to notice.
            data = _read(stream, self.max_body_bytes + 1)
            if len(data) > self.max_body_bytes:
                raise TooLarge
            return data
        return b""  # no length and no terminated stream: no body, as in werkzeug


def _read(stream: Any, size: int) -> bytes:
    try:
        data: bytes = stream.read(size)
    except OSError as exc:  # the client went away mid-body (gunicorn: NoMoreData, an IOError)
        raise BadBody("the request body could not be read to its end") from exc
    return data


def _error(
    start_response: Callable[..., Any], status: int, message: str, extra: Headers | None = None
) -> list[bytes]:
    """A small JSON error, shaped like the app's other machine-route errors."""
    body = json.dumps({"error": message}, separators=(",", ":")).encode() + b"\n"
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [_JSON, ("Content-Length", str(len(body))), *(extra or [])],
    )
    return [body]
