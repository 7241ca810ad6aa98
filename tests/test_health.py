"""/healthz says the process is up; /readyz follows the database."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.tcpproxy import TcpProxy


def test_healthz_answers_200(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200


def test_readyz_answers_200_with_a_working_database(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def _through_proxy(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def test_readyz_is_503_while_postgresql_is_unreachable_and_200_after(
    pg_url: str, make_app: Callable[[dict[str, str]], Flask], live_server: Callable[..., object]
) -> None:
    target = urlsplit(pg_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    proxy.start()
    app = make_app(
        {
            "DATABASE_URL": _through_proxy(pg_url, proxy.port),
            "SENDCLOUD_PUBLIC_KEY": "pk_test",
            "SENDCLOUD_SECRET_KEY": "sk_test_secret",
            "SENDCLOUD_INTEGRATION_ID": "7",
            "SERVICE_POINT_ENABLED": "false",
        }
    )
    server = live_server(app)
    url = server.url + "/readyz"  # type: ignore[attr-defined]
    assert requests.get(url, timeout=10).status_code == 200

    proxy.stop()
    response = requests.get(url, timeout=20)
    assert response.status_code == 503
    assert "unavailable" in response.json()["status"]
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200  # type: ignore[attr-defined]

    proxy.start()
    deadline = time.monotonic() + 20
    while requests.get(url, timeout=20).status_code != 200:
        assert time.monotonic() < deadline, "readyz never recovered"
        time.sleep(0.2)
