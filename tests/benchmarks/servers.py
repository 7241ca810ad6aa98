"""What the benchmark and the crash test start: gunicorn on a fresh store, and signed bodies."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests

REPO = Path(__file__).resolve().parents[2]
SECRET = "bench-webhook-secret-0123456789abcdef"
PG_SERVER = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def make_body(n: int) -> bytes:
    """A Sendcloud-style parcel_status_changed body of about 1.5 KB, distinct for each `n`."""
    ref = f"{n:012d}"
    payload = {
        "action": "parcel_status_changed",
        "timestamp": 1700000000000 + n,
        "carrier_status_change_timestamp": 1700000000000 + n,
        "parcel": {
            "id": 100000000 + n,
            "name": "John Doe",
            "company_name": "Sendcloud Test BV",
            "address": "Stadhuisplein 10",
            "address_divided": {"street": "Stadhuisplein", "house_number": "10"},
            "city": "Eindhoven",
            "postal_code": "5611EM",
            "telephone": "+31612345678",
            "email": "john.doe@example.com",
            "date_created": "2023-11-01T10:15:22Z",
            "tracking_number": f"3SYZXG{ref}",
            "tracking_url": f"https://tracking.example.com/forward?carrier=postnl&code=3SYZXG{ref}"
            "&destination=NL&lang=nl-nl&source=NL&type=parcel&verification=5611EM",
            "weight": "2.000",
            "label": {
                "normal_printer": [f"https://panel.example.com/api/v2/labels/normal/{n}?s=0"],
                "label_printer": f"https://panel.example.com/api/v2/labels/label_printer/{n}",
            },
            "customs_declaration": {},
            "order_number": f"ORD-{n:08d}",
            "insured_value": 0,
            "to_state": None,
            "type": "parcel",
            "shipment_uuid": "7ade61ad-c21a-4beb-b7fd-2f579feacdb6",
            "external_order_id": f"{555000 + n}",
            "is_return": False,
            "total_order_value": "39.90",
            "total_order_value_currency": "EUR",
            "colli_uuid": "8f3c5a77-0b2e-4e4f-9c56-1b2d3e4f5a6b",
            "status": {"id": 1000, "message": "Ready to send"},
            "data": {},
            "country": {"iso_3": "NLD", "iso_2": "NL", "name": "Netherlands"},
            "shipment": {"id": 8, "name": "PostNL Standard 0-23kg"},
            "carrier": {"code": "postnl"},
        },
    }
    return json.dumps(payload).encode()


def receiver_env(database_url: str) -> dict[str, str]:
    """Real-keys mode (no sandbox), service points off, one known webhook secret."""
    return {
        "DATABASE_URL": database_url,
        "SENDCLOUD_PUBLIC_KEY": "bench-public-key",
        "SENDCLOUD_SECRET_KEY": "bench-secret-key",
        "SENDCLOUD_WEBHOOK_SECRET": SECRET,
        "SENDCLOUD_INTEGRATION_ID": "1",
        "SERVICE_POINT_ENABLED": "false",
        "ONBOARDING_TOKEN": "bench-onboarding-token-0123456789",
        "LOG_LEVEL": "warning",
    }


@contextmanager
def fresh_store(store: str, directory: Path) -> Iterator[str]:
    """The DATABASE_URL of a new SQLite file or PostgreSQL schema, removed afterwards."""
    if store == "sqlite":
        path = directory / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
        try:
            yield f"sqlite:///{path}"
        finally:
            for leftover in directory.glob(path.name + "*"):
                leftover.unlink()
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_SERVER else "?"
    try:
        yield f"{PG_SERVER}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def stored_hashes(database_url: str) -> list[str]:
    """The event hash of every stored delivery, one entry per row."""
    query = "SELECT event_hash FROM webhook_events"
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return [row[0] for row in conn.execute(query)]
    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute(query)]


def store_workers(store: str, source: Path = REPO) -> int:
    """The worker count `source`'s gunicorn.conf.py picks for `store` (WEB_CONCURRENCY unset)."""
    url = "sqlite:///x.sqlite3" if store == "sqlite" else PG_SERVER
    code = "import runpy, sys; print(runpy.run_path(sys.argv[1])['workers'])"
    env = {k: v for k, v in os.environ.items() if k != "WEB_CONCURRENCY"} | {"DATABASE_URL": url}
    out = subprocess.run(
        [sys.executable, "-c", code, str(source / "gunicorn.conf.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Gunicorn:
    """gunicorn with the Procfile's config file, run from `source` (a checkout of this repo);
    `args` override the config file's settings."""

    def __init__(
        self, app: str, env: dict[str, str], log: Path, source: Path = REPO, *args: str
    ) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        full = {k: v for k, v in os.environ.items() if not k.startswith(("SENDCLOUD_", "SERVICE_"))}
        command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*command, *args, "--bind", f"127.0.0.1:{port}", app],
                cwd=source,
                env=full | env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    time.sleep(0.5)  # let every worker finish booting
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"gunicorn did not start, see {log}")

    def workers(self) -> list[int]:
        """The pids of the current workers."""
        found = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in found.stdout.split()]

    def stop(self) -> None:
        """Stop gunicorn (by its own pid) and wait for it."""
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
