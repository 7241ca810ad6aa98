"""The sandbox's shared state stays consistent on PostgreSQL when several processes race."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from bootstrap.sandbox import Sandbox, delivery, faults, outbox
from receivers.db import Database
from tests.sandbox_fixture import WebhookCatcher


@pytest.fixture
def databases(pg_url: str) -> Iterator[list[Database]]:
    """Three engines on one PostgreSQL schema: three "workers"."""
    dbs = [Database(pg_url) for _ in range(3)]
    Sandbox(dbs[0]).install("pub", "secret")
    yield dbs
    for db in dbs:
        db.dispose()


def _race(targets: list[threading.Thread]) -> None:
    for thread in targets:
        thread.start()
    for thread in targets:
        thread.join(30)


def test_rate_limit_counts_exactly_100_unsafe_requests_across_workers(
    databases: list[Database],
) -> None:
    limited: list[bool] = []
    lock = threading.Lock()

    def hammer(db: Database) -> None:
        for _ in range(40):
            result = faults.over_rate_limit(db)
            with lock:
                limited.append(result)

    _race([threading.Thread(target=hammer, args=(db,)) for db in databases])
    assert limited.count(False) == 100
    assert limited.count(True) == 20


def test_forced_failures_are_consumed_exactly_once_across_workers(
    databases: list[Database],
) -> None:
    faults.update(databases[0], fail_next=10)
    taken: list[object] = []

    def take(db: Database) -> None:
        for _ in range(8):
            taken.append(faults.take_forced_failure(db, "/api/v2/integrations/1"))

    _race([threading.Thread(target=take, args=(db,)) for db in databases])
    assert sum(t is not None for t in taken) == 10


def test_each_queued_webhook_is_delivered_once_by_racing_workers(
    databases: list[Database], webhook_catcher: WebhookCatcher
) -> None:
    with databases[0].begin_write() as conn:
        for n in range(15):
            outbox.enqueue(conn, "test_webhook", webhook_catcher.url, {"n": n}, "secret")
    workers = [delivery.DeliveryWorker(db, lambda: 1.0) for db in databases]
    _race([threading.Thread(target=w.run_once) for w in workers])
    received = sorted(json.loads(h.body)["n"] for h in webhook_catcher.wait_for(15))
    assert received == list(range(15))
    assert len(outbox.attempts(databases[0])) == 15
