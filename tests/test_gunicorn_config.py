"""gunicorn.conf.py runs one worker more than cores, whatever the store; WEB_CONCURRENCY wins."""

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


def test_every_store_gets_one_worker_more_than_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _workers(monkeypatch) == CORES + 1  # no DATABASE_URL: a SQLite file
    for url in ("sqlite:////tmp/x.sqlite3", "postgres://u@h/db", "postgresql://u@h/db"):
        assert _workers(monkeypatch, DATABASE_URL=url) == CORES + 1


def test_web_concurrency_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _workers(monkeypatch, DATABASE_URL="postgresql://u@h/db", WEB_CONCURRENCY="7") == 7
    assert _workers(monkeypatch, WEB_CONCURRENCY="2") == 2


def test_forwarded_headers_are_believed_only_with_trusted_proxy_hops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def allowed(hops: str | None) -> str:
        if hops is None:
            monkeypatch.delenv("TRUSTED_PROXY_HOPS", raising=False)
        else:
            monkeypatch.setenv("TRUSTED_PROXY_HOPS", hops)
        return str(runpy.run_path(str(CONFIG))["forwarded_allow_ips"])

    # gunicorn's default trusts 127.0.0.1: with 0 hops, not even a local client is believed.
    assert [allowed(h) for h in (None, "0", "1", "2")] == ["", "", "*", "*"]
