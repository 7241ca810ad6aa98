"""The webhook route's request shapes: chunked bodies, broken lengths, clients that go away.

The common cases (signature, duplicates, bad payloads, oversize) are in test_receiver*.py;
these are the shapes a WSGI server can hand over: chunked bodies, broken lengths, clients
that go away, other methods, and a bug while receiving. Most call the app's WSGI callable
with a hand-built environ, because the test client always sends a valid length.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from receivers.signature import sign
from tests.conftest import Gunicorn
from tests.receiver_kit import SECRET, encode, parcel_event, real_keys_env, stored

LIMIT = 4096
BODY = encode(parcel_event(parcel_id=31, timestamp=1_700_000_000_000, status_id=11))


@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    url = f"sqlite:///{tmp_path / 'endpoint.sqlite3'}"
    return make_app(real_keys_env(url, WEBHOOK_MAX_BODY_BYTES=str(LIMIT)))


def call(
    app: Flask, stream: Any, method: str = "POST", terminated: bool = False, **environ: str
) -> tuple[str, dict[str, str], bytes]:
    """One request through the app's WSGI stack, as a server would make it."""
    base = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/webhooks/sendcloud",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
        "wsgi.errors": io.StringIO(),
        "HTTP_SENDCLOUD_SIGNATURE": sign(BODY, SECRET),
    }
    if terminated:  # what a server sets for a chunked body
        base["wsgi.input_terminated"] = True
    answered: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answered.extend([status, dict(headers)])
        return answered.append  # the write() callable; the route never uses it

    body = b"".join(app.wsgi_app(base | environ, start_response))
    return answered[0], answered[1], body


def outcomes(app: Flask) -> list[str]:
    return [e["outcome"] for e in stored(app.test_client())]


def test_a_chunked_body_is_read_to_its_end_and_stored(app: Flask) -> None:
    status, headers, body = call(app, io.BytesIO(BODY), terminated=True)
    assert (status, json.loads(body)) == ("200 OK", {"status": "stored"})
    assert headers["Content-Type"] == "application/json"
    assert outcomes(app) == ["applied"]


def test_a_chunked_body_over_the_limit_is_refused_and_not_stored(app: Flask) -> None:
    big = b"x" * (LIMIT + 1)
    status, _, body = call(
        app,
        io.BytesIO(big),
        HTTP_SENDCLOUD_SIGNATURE=sign(big, SECRET),
        terminated=True,
    )
    assert status.startswith("413")
    assert json.loads(body) == {"error": f"request body is larger than the {LIMIT} byte limit"}
    assert outcomes(app) == []


def test_a_body_of_exactly_the_limit_is_accepted(app: Flask) -> None:
    exact = b"y" * LIMIT
    status, _, _ = call(
        app,
        io.BytesIO(exact),
        CONTENT_LENGTH=str(LIMIT),
        HTTP_SENDCLOUD_SIGNATURE=sign(exact, SECRET),
    )
    assert status == "200 OK"
    assert outcomes(app) == ["unrecognised"]


@pytest.mark.parametrize(
    ("length", "message"),
    [
        ("abc", "the Content-Length header is not a number"),
        ("-5", "the Content-Length header is not a number"),
        (str(len(BODY) + 10), "the request body ended before its Content-Length"),
    ],
)
def test_a_broken_length_is_a_400_and_nothing_is_stored(
    app: Flask, length: str, message: str
) -> None:
    status, _, body = call(app, io.BytesIO(BODY), CONTENT_LENGTH=length)
    assert status.startswith("400")
    assert json.loads(body) == {"error": message}
    assert outcomes(app) == []


class VanishingClient(io.RawIOBase):
    """A request stream whose client disconnects mid-body, as gunicorn reports it."""

    def readinto(self, buffer: Any) -> int:
        raise OSError("No more data")


def test_a_client_gone_mid_body_is_a_400_and_nothing_is_stored(app: Flask) -> None:
    status, _, body = call(app, VanishingClient(), CONTENT_LENGTH=str(len(BODY)))
    assert status.startswith("400")
    assert json.loads(body) == {"error": "the request body ended before its Content-Length"}
    assert outcomes(app) == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD", "OPTIONS"])
def test_other_methods_are_a_small_json_405(app: Flask, method: str) -> None:
    status, headers, body = call(app, io.BytesIO(b""), method=method)
    assert status.startswith("405")
    assert headers["Allow"] == "POST"
    if method == "HEAD":  # a HEAD answer has no body
        assert body == b""
    else:
        assert json.loads(body) == {"error": f"method {method} is not allowed here (allowed: POST)"}


def test_other_paths_still_reach_flask(app: Flask) -> None:
    status, _, _ = call(app, io.BytesIO(b""), method="GET", PATH_INFO="/healthz")
    assert status == "200 OK"
    status, _, _ = call(app, io.BytesIO(BODY), PATH_INFO="/webhooks/sendcloud/")
    assert status.startswith("404")
    assert outcomes(app) == []


class BrokenStream(io.RawIOBase):
    """A stream failing as a server's does on a malformed chunked body."""

    def readinto(self, buffer: Any) -> int:
        raise RuntimeError("secret-looking detail 0123456789")


def test_a_body_that_cannot_be_read_is_a_plain_400(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        status, _, body = call(app, BrokenStream(), CONTENT_LENGTH=str(len(BODY)))
    assert status.startswith("400")
    assert json.loads(body)["error"] == (
        "the request body could not be read (malformed or cut short)"
    )
    assert b"secret-looking" not in body
    assert "secret-looking" not in caplog.text
    assert "ERROR" not in caplog.text


@pytest.fixture
def server(gunicorn: Callable[..., Gunicorn], tmp_path: Path) -> Gunicorn:
    url = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    return gunicorn(real_keys_env(url, WEBHOOK_MAX_BODY_BYTES=str(LIMIT)), workers=1)


def test_through_gunicorn_chunked_and_oversize_bodies_get_their_answers(server: Gunicorn) -> None:
    def chunks(data: bytes) -> Iterator[bytes]:
        yield data[:100]
        yield data[100:]

    url = server.url + "/webhooks/sendcloud"
    signed = {"Sendcloud-Signature": sign(BODY, SECRET)}
    response = requests.post(url, data=chunks(BODY), headers=signed, timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "stored"})
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    again = requests.post(url, data=BODY, headers=signed, timeout=10)
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    big = b"z" * (LIMIT + 1)
    refused = requests.post(
        url, data=big, headers={"Sendcloud-Signature": sign(big, SECRET)}, timeout=10
    )
    assert refused.status_code == 413
