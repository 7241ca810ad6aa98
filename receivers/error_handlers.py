"""App-wide answers for errors no view handled: plain words, never a traceback or a secret."""

from __future__ import annotations

import json
import logging
from typing import IO, Any

from flask import Flask, Request, Response, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.utils import cached_property

from receivers.errors import InvalidValue, StorageUnavailable, where

log = logging.getLogger(__name__)

# Machine clients (Sendcloud, scripts) get JSON; browsers get werkzeug's short HTML pages.
JSON_PREFIXES = ("/webhooks/", "/api/")
INTERNAL_ERROR = "internal error: the request was not completed; the details are in the service log"


class _BodyStream:
    """A request body whose read errors (a malformed chunked body, a connection cut) are the
    client's 400, not a 500 with a traceback (werkzeug reads bodies with `read` only)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except HTTPException:
            raise  # werkzeug's own 400/413 answers
        except Exception as exc:  # whatever the server raises while reading its input
            message = "the request body could not be read (malformed or cut short)"
            raise BadRequest(message) from exc


class GuardedRequest(Request):
    """Flask's request, its body read errors answered with 400."""

    @cached_property
    def stream(self) -> IO[bytes]:
        return _BodyStream(super().stream)  # type: ignore[return-value]


class BoundedJSON(DefaultJSONProvider):
    """JSON nested past the interpreter's recursion limit is invalid JSON (a 400), not a 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("the JSON is nested too deeply") from exc


def init_app(app: Flask) -> None:
    """Register the handlers on `app` (blueprint handlers still take precedence)."""
    app.request_class = GuardedRequest
    app.json = BoundedJSON(app)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(StorageUnavailable, storage_unavailable)
    app.register_error_handler(InvalidValue, invalid_value)
    if not app.debug:
        # `flask run --debug` keeps its interactive debugger for bugs.
        app.register_error_handler(Exception, unexpected_error)


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def json_error(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    """A small JSON error in plain words, `{"error": message}` (needs no app context)."""
    body = json.dumps({"error": message}, separators=(",", ":")) + "\n"
    return Response(body, status=status, mimetype="application/json", headers=headers)


def http_error(exc: HTTPException) -> HTTPException | Response:
    """404, 405, … : a small JSON body on machine routes, the usual page elsewhere."""
    if exc.code is None or exc.code < 400 or not _wants_json():
        return exc
    # Keep Allow (405), Retry-After, …; the body is ours, so not werkzeug's content type.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    if exc.code == 405:
        return not_allowed(request.method, headers.get("Allow", ""), headers)
    own = exc.description if exc.description != type(exc).description else None
    return json_error(own or f"{exc.code} {exc.name}", exc.code, headers)


def not_allowed(method: str, allowed: str, headers: dict[str, str] | None = None) -> Response:
    """405 in plain words, with the Allow header."""
    message = f"method {method} is not allowed here (allowed: {allowed})"
    return json_error(message, 405, (headers or {}) | {"Allow": allowed})


def storage_unavailable(exc: StorageUnavailable) -> Response:
    """The database is down: a 503 in plain words, so callers retry later."""
    log.warning("storage_unavailable method=%s path=%s error=%s", request.method, request.path, exc)
    if _wants_json():
        return json_error(str(exc), 503, {"Retry-After": "30"})
    return _plain(f"{exc}; try again in a minute.", 503, {"Retry-After": "30"})


def invalid_value(exc: InvalidValue) -> Response:
    """A value the database cannot hold (a NUL byte, a number out of range): the caller's."""
    return json_error(str(exc), 400) if _wants_json() else _plain(str(exc), 400)


def unexpected_error(exc: Exception) -> Response:
    """A bug in a view (HTTPExceptions never get here: Flask finds http_error first)."""
    return bug(exc, request.method, request.path, _wants_json())


def bug(exc: Exception, method: str, path: str, as_json: bool) -> Response:
    """Log where a bug happened (not its message, which may hold data) and say so plainly."""
    log.error(
        "unhandled_error method=%s path=%s error=%s where=%s",
        method,
        path,
        type(exc).__name__,
        where(exc),
    )
    if as_json:
        return json_error(INTERNAL_ERROR, 500)
    return _plain(f"Sorry, something went wrong: {INTERNAL_ERROR}.", 500)


def _plain(text: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain", headers=headers)
