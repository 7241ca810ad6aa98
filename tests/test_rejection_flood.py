"""An unsigned flood costs no durable write and no log line per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from receivers import rejections, services
from tests.receiver_kit import AUTH, encode, post_signed, real_keys_env


def _count_writes(app: Flask) -> list[str]:
    writes: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(services(app).db.engine, "before_cursor_execute", seen)
    return writes


def test_an_unsigned_flood_writes_once_not_per_request(
    make_app: Callable[..., Flask], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(real_keys_env(f"sqlite:///{tmp_path / 'flood.sqlite3'}"))
    client = app.test_client()
    writes = _count_writes(app)
    caplog.set_level(logging.INFO)
    body = encode({"action": "parcel_status_changed"})
    for n in range(300):
        headers = {"Sendcloud-Signature": "0" * 64} if n % 2 else {}
        assert client.post("/webhooks/sendcloud", data=body, headers=headers).status_code == 401
    assert writes == []
    assert len([r for r in caplog.records if "webhook_rejected" in r.message]) == 1

    counts = client.get("/api/receiver/stats", headers=AUTH).get_json()["signature_rejections"]
    assert counts == {"header_missing": 150, "matches_no_configured_key": 150}
    assert len(writes) == 1  # both causes in one statement
    assert "header_missing=150 matches_no_configured_key=150" in caplog.text


def test_counts_reach_the_shared_table_by_themselves(
    make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rejections, "FLUSH_SECONDS", 0.2)
    app = make_app(real_keys_env(f"sqlite:///{tmp_path / 'timer.sqlite3'}"))
    client = app.test_client()
    for _ in range(3):
        post_signed(client, b"{}", key="another-key-entirely")
    deadline = time.monotonic() + 5
    while not services(app).store.rejection_counts() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert services(app).store.rejection_counts() == {"matches_no_configured_key": 3}


def test_a_forged_flood_reads_the_stored_keys_at_most_once_a_second(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = make_app(real_keys_env(f"sqlite:///{tmp_path / 'reads.sqlite3'}"))
    client = app.test_client()
    reads: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    event.listen(services(app).db.engine, "before_cursor_execute", seen)
    body = encode({"action": "parcel_status_changed"})
    began = time.monotonic()
    for n in range(300):
        headers = {"Sendcloud-Signature": "0" * 64} if n % 2 else {}
        assert client.post("/webhooks/sendcloud", data=body, headers=headers).status_code == 401
    # Keys stored by another worker are looked for when a well-formed signature matches none,
    # once a second at most; a missing header never reads.
    assert len(reads) <= time.monotonic() - began + 1, reads
