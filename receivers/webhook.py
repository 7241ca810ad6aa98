"""`POST /webhooks/sendcloud`: a werkzeug route in front of Flask, which serves every other path;
not a Flask view: Flask's per-request cost measured above the receiver's (docs/performance.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import BadRequest, ClientDisconnected, RequestEntityTooLarge
from werkzeug.wrappers import Response

from receivers.error_handlers import GuardedRequest, bug, json_error, not_allowed
from receivers.errors import StorageUnavailable
from receivers.handling import Receiver
from receivers.signature import SignatureRejected

log = logging.getLogger(__name__)

PATH = "/webhooks/sendcloud"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WebhookRoute:
    """Serves PATH from `receiver`; hands every other request to `inner`."""

    def __init__(self, inner: WSGIApp, receiver: Receiver, max_body_bytes: int) -> None:
        self.inner = inner
        self.receiver = receiver
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != PATH:
            return self.inner(environ, start_response)
        request = GuardedRequest(environ)
        try:
            response = self.answer(request)
        except Exception as exc:  # noqa: BLE001 (a bug: logged and answered in plain words)
            response = bug(exc, request.method, PATH, as_json=True)
        return response(environ, start_response)

    def answer(self, request: GuardedRequest) -> Response:
        """Verify, store durably, then answer: 200 stored/duplicate, 400, 401, 405, 413 or 503."""
        if request.method != "POST":
            return not_allowed(request.method, "POST")
        limit = self.max_body_bytes
        declared = request.headers.get("Content-Length")
        if declared is not None and not (declared.isascii() and declared.isdigit()):
            return json_error("the Content-Length header is not a number", 400)
        # werkzeug refuses a declared length over this unread, and stops a chunked body there:
        # one byte more than the limit tells a body at the limit from one over it.
        request.max_content_length = limit + 1
        try:
            # The raw bytes, unparsed: the signature covers exactly these (any content type).
            body: bytes | None = request.get_data(cache=False)
        except RequestEntityTooLarge:
            body = None
        except ClientDisconnected:
            return json_error("the request body ended before its Content-Length", 400)
        except BadRequest as exc:
            return json_error(str(exc.description), 400)
        if body is None or len(body) > limit:
            return json_error(f"request body is larger than the {limit} byte limit", 413)
        try:
            event = self.receiver.receive(body, request.headers.get("Sendcloud-Signature"))
        except SignatureRejected as exc:
            return json_error(f"signature rejected: {exc}", 401)
        except StorageUnavailable as exc:
            # Not acknowledged, so Sendcloud delivers it again later.
            log.warning("storage_unavailable method=POST path=%s error=%s", PATH, exc)
            message = "storage unavailable, delivery not stored; retry later"
            return json_error(message, 503, {"Retry-After": "30"})
        answer = b'{"status": "duplicate"}' if event is None else b'{"status": "stored"}'
        return Response(answer, mimetype="application/json")
