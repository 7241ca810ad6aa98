"""Re-run the ten findings of the attack run (issue 13) against the service, one line each.

    .venv/bin/python -m tests.attack.attack            # about a minute; PostgreSQL optional

Bounded and loopback only: every server it attacks is one it starts itself (gunicorn with
gunicorn.conf.py on 127.0.0.1, a temporary SQLite file, a private PostgreSQL schema at
TEST_DATABASE_URL when reachable), every request has a timeout, and every process it starts
is stopped at the end. Items that need the store itself broken (a full disk) run the app in
this process and break it through SQLite's own limits. Prints `item N ok|FAIL: …` per item
and exits 1 if any failed. Not part of the pytest run; the suite has a test for each item.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests
from sqlalchemy import event

from app import create_app
from receivers import services
from receivers.signature import sign
from tests.conftest import PG_URL, REPO, Gunicorn, free_port, gunicorn_command, wait_for_http
from tests.receiver_kit import AUTH, SECRET, TOKEN, encode, parcel_event, real_keys_env
from tests.tcpproxy import TcpProxy

WORK = Path(tempfile.mkdtemp(prefix="attack-"))
started: list[Gunicorn] = []
failures: list[int] = []


def serve(name: str, workers: int = 2, **env: str) -> Gunicorn:
    database = env.pop("DATABASE_URL", f"sqlite:///{WORK / name}.sqlite3")
    server = Gunicorn(real_keys_env(database, **env), workers, WORK / f"{name}.log", [])
    started.append(server)
    return server


def signed(server: Gunicorn, n: int) -> int:
    body = encode(parcel_event(parcel_id=n, timestamp=1_700_000_000_000 + n, status_id=11))
    headers = {"Sendcloud-Signature": sign(body, SECRET), "Content-Type": "application/json"}
    url = server.url + "/webhooks/sendcloud"
    return requests.post(url, data=body, headers=headers, timeout=10).status_code


def report(item: int, ok: bool, words: str) -> None:
    print(f"item {item:2d} {'ok  ' if ok else 'FAIL'}: {words}", flush=True)
    if not ok:
        failures.append(item)


def item_1_slow_clients() -> None:
    server = serve("slow")
    sockets = []
    for n in range(50):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        head = "POST /webhooks/sendcloud HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
        sock.sendall(head.encode() if n % 2 else b"\x16\x03\x01")  # half a body, half a TLS hello
        sockets.append(sock)
    began = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda n: signed(server, n), range(1, 201)))
    for sock in sockets:
        sock.close()
    took = time.monotonic() - began
    report(
        1,
        codes == [200] * 200,
        f"50 slow sockets held; {codes.count(200)}/200 signed deliveries stored in {took:.1f}s",
    )


def item_2_full_store() -> None:
    app = create_app(real_keys_env(f"sqlite:///{WORK / 'full.sqlite3'}"), str(WORK / "inst"))
    client = app.test_client()
    engine = services(app).db.engine
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    event.listen(engine, "connect", lambda c, _: c.execute(f"PRAGMA max_page_count = {pages}"))
    engine.dispose()
    big = {"padding": "x" * 200_000}
    for n in range(3):
        body = encode(parcel_event(n, 2, 1) | big)
        client.post(
            "/webhooks/sendcloud", data=body, headers={"Sendcloud-Signature": sign(body, SECRET)}
        )
    ready = client.get("/readyz")
    reason = ready.get_json().get("reason", "")
    report(
        2,
        ready.status_code == 503 and "disk is full" in reason,
        f"/readyz {ready.status_code} with a full store: {reason or 'ready'}",
    )
    services(app).db.dispose()


def item_3_frozen_postgresql() -> None:
    try:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
            schema = f"attack_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as exc:
        report(3, True, f"skipped: no PostgreSQL at TEST_DATABASE_URL ({type(exc).__name__})")
        return
    target = urlsplit(PG_URL)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    proxy.start()
    user = target.netloc.rsplit("@", 1)[0] + "@" if "@" in target.netloc else ""
    url = urlunsplit(target._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    try:
        server = serve("frozen", DATABASE_URL=f"{url}?options=-csearch_path%3D{schema}")
        assert signed(server, 1) == 200
        proxy.hang(new_connections=True)
        calls: dict[str, Callable[[], requests.Response]] = {
            "readyz": lambda: requests.get(server.url + "/readyz", timeout=30),
            "events": lambda: requests.get(server.url + "/api/events", headers=AUTH, timeout=30),
            "unsigned": lambda: requests.post(
                server.url + "/webhooks/sendcloud", data=b"{}", timeout=30
            ),
        }

        def timed(name: str) -> str:
            began = time.monotonic()
            code = calls[name]().status_code
            return f"{name} {code} in {time.monotonic() - began:.1f}s"

        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(timed, calls))
        slowest = max(float(a.split(" in ")[1][:-1]) for a in answers)
        report(3, slowest < 12, "PostgreSQL frozen: " + ", ".join(answers))
    finally:
        proxy.stop()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def item_4_unsigned_flood() -> None:
    server = serve("flood")
    url = server.url + "/webhooks/sendcloud"

    def rate(call: Callable[[int], int], count: int) -> float:
        began = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(call, range(count)))
        return count / (time.monotonic() - began)

    unsigned = rate(lambda n: requests.post(url, data=b"{}", timeout=10).status_code, 600)
    valid = rate(lambda n: signed(server, 10_000 + n), 600)
    log_lines = server.log_path.read_text().count("webhook_rejected")
    report(
        4,
        unsigned >= valid * 0.9 and log_lines <= 4,
        f"unsigned {unsigned / valid:.2f}x the rate of signed ones; {log_lines} log lines "
        "for 600 refusals",
    )


def item_5_token_guessing() -> None:
    server = serve("guess", workers=3)
    codes = []
    for n in range(30):
        headers = {"Authorization": f"Bearer wrong-{n}", "X-Forwarded-For": f"203.0.113.{n}"}
        codes.append(
            requests.get(server.url + "/api/events", headers=headers, timeout=10).status_code
        )
    right = requests.get(server.url + "/api/events", headers=AUTH, timeout=10).status_code
    report(
        5,
        codes.count(401) == 10 and right == 200,
        f"30 wrong tokens across 3 workers (forged X-Forwarded-For): {codes.count(401)}x401 "
        f"{codes.count(429)}x429; then the right token: {right}",
    )


def item_6_token_in_url() -> None:
    server = serve("url")
    first = requests.get(
        server.url + "/onboarding", params={"token": TOKEN}, timeout=30, allow_redirects=False
    )
    where = first.headers.get("Location", "")
    report(
        6,
        first.status_code == 303 and TOKEN not in where,
        f"onboarding URL answers {first.status_code} to {where!r} with a session cookie",
    )


def item_7_forged_host() -> None:
    server = serve("host", TRUSTED_PROXY_HOPS="1")
    answers = []
    for headers in (
        {"Host": "127.0.0.1:9"},
        {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "10.0.0.5:8443"},
    ):
        answer = requests.post(
            server.url + "/api/onboarding", json={}, timeout=30, headers={**headers, **AUTH}
        )
        answers.append(answer.status_code)
    report(
        7,
        answers == [400, 400],
        f"forged Host / X-Forwarded-Host: {answers} (PUBLIC_URL asked for)",
    )


def item_8_bad_input() -> None:
    server = serve("bad")
    table = [
        ("GET", "/api/events?limit=%C2%B2", b""),
        ("GET", "/api/events?action=%00", b""),
        ("GET", "/api/parcels/" + "9" * 30, b""),
        ("POST", "/api/events/" + "9" * 30 + "/replay", b""),
        ("POST", "/api/onboarding", b"[" * 50_000 + b"]" * 50_000),
    ]
    codes = [
        requests.request(m, server.url + p, data=b, headers=AUTH, timeout=10).status_code
        for m, p, b in table
    ]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /webhooks/sendcloud HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
            b"chunked\r\n\r\nzz\r\nnot a chunk\r\n0\r\n\r\n"
        )
        codes.append(int(sock.recv(1024).split()[1]))
    errors = server.log_path.read_text().count(" ERROR ")
    # ?action=%00 is a 200 on SQLite (it stores NUL), a 400 on PostgreSQL.
    report(
        8,
        all(c < 500 for c in codes) and errors == 0,
        f"bad-input table answers {codes}; {errors} ERROR lines",
    )


def item_9_cookies() -> None:
    server = serve("cookies", TRUSTED_PROXY_HOPS="1")
    answer = requests.get(
        server.url + "/onboarding",
        params={"token": TOKEN},
        timeout=30,
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )
    cookie = answer.headers.get("Set-Cookie", "")
    flags = [f for f in ("HttpOnly", "Secure", "SameSite=Lax") if f in cookie]
    hsts = answer.headers.get("Strict-Transport-Security")
    report(9, len(flags) == 3 and bool(hsts), f"over https the cookie has {flags}, HSTS {hsts!r}")


def item_10_master_killed() -> None:
    first = serve("orphans")
    orphans = subprocess.run(
        ["pgrep", "-P", str(first.proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait()
    began = time.monotonic()
    log_path = WORK / "restart.log"
    with log_path.open("w") as log:
        second = subprocess.Popen(
            gunicorn_command(first.port, 2),
            cwd=REPO,
            env={**os.environ, **real_keys_env(f"sqlite:///{WORK / 'orphans.sqlite3'}")},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while any(Path(f"/proc/{pid}").exists() for pid in orphans):
            assert time.monotonic() - began < 40, "orphaned workers still alive after 40 s"
            time.sleep(0.2)
        gone = time.monotonic() - began
        wait_for_http(first.url + "/healthz", timeout=20)
        bound = "Booting worker" in log_path.read_text() and second.poll() is None
        report(
            10,
            bound,
            f"master killed with -9: the new master bound the port at once, its "
            f"{len(orphans)} orphaned workers exited by themselves within {gone:.1f}s",
        )
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(second.pid, signal.SIGKILL)


def main() -> int:
    free_port()  # fails early if loopback is unusable
    try:
        for item in (
            item_1_slow_clients,
            item_2_full_store,
            item_3_frozen_postgresql,
            item_4_unsigned_flood,
            item_5_token_guessing,
            item_6_token_in_url,
            item_7_forged_host,
            item_8_bad_input,
            item_9_cookies,
            item_10_master_killed,
        ):
            try:
                item()
            except Exception as exc:  # noqa: BLE001 (one broken item must not hide the others)
                report(int(item.__name__.split("_")[1]), False, f"{type(exc).__name__}: {exc}")
    finally:
        for server in started:
            server.stop()
    print(f"{10 - len(failures)}/10 items hold; logs in {WORK}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
