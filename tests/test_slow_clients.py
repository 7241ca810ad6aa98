"""Slow and half-open clients do not stop the receiver (real gunicorn, gunicorn.conf.py)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from receivers.signature import sign
from tests.conftest import Gunicorn
from tests.receiver_kit import AUTH, SECRET, encode, parcel_event, real_keys_env

pytestmark = pytest.mark.slow


@pytest.fixture
def slow_sockets() -> Iterator[Callable[[int, str], list[socket.socket]]]:
    opened: list[socket.socket] = []

    def open_slow(port: int, how: str) -> list[socket.socket]:
        for n in range(50):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            opened.append(sock)
            if how == "body":  # headers complete, the body promised and never sent
                head = (
                    "POST /webhooks/sendcloud HTTP/1.1\r\nHost: x\r\n"
                    "Content-Length: 1000\r\nSendcloud-Signature: 00\r\n\r\n{"
                )
                sock.sendall(head.encode())
            elif how == "headers":  # the request line only, half the headers
                sock.sendall(f"POST /webhooks/sendcloud?n={n} HTTP/1.1\r\nHost: x\r\n".encode())
            # "silent": connected, nothing sent (a truncated TLS hello looks like this to us)
        return opened

    yield open_slow
    for sock in opened:
        sock.close()


@pytest.mark.parametrize("how", ["body", "headers", "silent"])
def test_fifty_slow_clients_do_not_stop_two_hundred_signed_deliveries(
    gunicorn: Callable[..., Gunicorn],
    tmp_path: Path,
    slow_sockets: Callable[[int, str], list[socket.socket]],
    how: str,
) -> None:
    server = gunicorn(real_keys_env(f"sqlite:///{tmp_path / 'slow.sqlite3'}"), workers=2)
    slow_sockets(server.port, how)

    def deliver(n: int) -> int:
        body = encode(parcel_event(parcel_id=n, timestamp=1_700_000_000_000 + n, status_id=11))
        headers = {"Sendcloud-Signature": sign(body, SECRET), "Content-Type": "application/json"}
        url = server.url + "/webhooks/sendcloud"
        return requests.post(url, data=body, headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(deliver, range(1, 201)))
    assert statuses == [200] * 200
    listed = requests.get(server.url + "/api/events?limit=500", headers=AUTH, timeout=10)
    assert len(listed.json()["events"]) == 200
    assert "Traceback" not in server.log_path.read_text()
