"""/readyz sees what the hot path sees: a full or read-only store turns it to 503, and the
log names the cause in plain words (real SQLite files, limits set through SQLite itself)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from receivers import db as db_module
from receivers import services
from tests.receiver_kit import encode, parcel_event, post_signed, real_keys_env


def _on_every_connection(app: Flask, pragma: str) -> None:
    """Run `pragma` on every connection of the app's SQLite engine from now on."""
    engine = services(app).db.engine

    def apply(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(pragma)

    event.listen(engine, "connect", apply)
    engine.dispose()  # pooled connections reconnect, with the pragma


def test_a_full_store_turns_readyz_to_503_with_the_cause(
    make_app: Callable[..., Flask], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(real_keys_env(f"sqlite:///{tmp_path / 'full.sqlite3'}"))
    client = app.test_client()
    assert post_signed(client, encode(parcel_event(1, 1, 1))).status_code == 200
    assert client.get("/readyz").status_code == 200
    with services(app).db.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    # SQLite's own limit on the file's size: it answers SQLITE_FULL as on a full disk.
    _on_every_connection(app, f"PRAGMA max_page_count = {pages}")
    big = {"padding": "x" * 200_000}
    answers = [
        post_signed(client, encode(parcel_event(n, 2, 1) | big)).status_code for n in range(2, 5)
    ]
    assert 503 in answers
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "the disk is full" in ready.get_json()["reason"]
    assert "the disk is full (SQLITE_FULL)" in caplog.text


def test_a_read_only_store_turns_readyz_to_503_without_any_delivery(
    make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PROBE_SECONDS", 0.0)
    app = make_app(real_keys_env(f"sqlite:///{tmp_path / 'ro.sqlite3'}"))
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    _on_every_connection(app, "PRAGMA query_only = ON")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["reason"].endswith("the database is read-only (SQLITE_READONLY)")


def test_the_probe_write_is_rate_limited(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app(real_keys_env(f"sqlite:///{tmp_path / 'rate.sqlite3'}"))
    writes: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT"):
            writes.append(statement)

    event.listen(services(app).db.engine, "before_cursor_execute", seen)
    client = app.test_client()
    for _ in range(20):
        assert client.get("/readyz").status_code == 200
    assert len(writes) == 1
