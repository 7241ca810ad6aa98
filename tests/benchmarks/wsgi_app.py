"""A stricter yardstick than the bare Flask endpoint: a plain WSGI callable answering 200.

The receiver serves its path in front of Flask (receivers/endpoint.py), so the benchmark can
also show how it compares with no framework at all (`--variants …,bare-wsgi`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def create_app() -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """A WSGI app that ignores the request (the body included) and answers 200 "ok"."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    return app
