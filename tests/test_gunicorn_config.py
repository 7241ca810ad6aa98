"""gunicorn.conf.py picks its worker count from the store, and WEB_CONCURRENCY wins."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"
CORES = len(os.sched_getaffinity(0))


def _workers(monkeypatch: pytest.MonkeyPatch, **env: str) -> int:
    for name in ("DATABASE_URL", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return int(runpy.run_path(str(CONFIG))["workers"])


def test_sqlite_gets_one_worker_more_than_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _workers(monkeypatch) == CORES + 1  # no DATABASE_URL: a SQLite file
    assert _workers(monkeypatch, DATABASE_URL=" ") == CORES + 1  # blank means unset, as in the app
    assert _workers(monkeypatch, DATABASE_URL="sqlite:////tmp/x.sqlite3") == CORES + 1


def test_postgresql_gets_twice_the_cores_plus_one_at_most_five(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for url in ("postgres://u@h/db", "postgresql://u@h/db"):
        assert _workers(monkeypatch, DATABASE_URL=url) == min(2 * CORES + 1, 5)


def test_web_concurrency_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _workers(monkeypatch, DATABASE_URL="postgresql://u@h/db", WEB_CONCURRENCY="7") == 7
    assert _workers(monkeypatch, WEB_CONCURRENCY="2") == 2
