"""The delivery thread: POSTs queued webhooks like Sendcloud does, with its retry schedule."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import requests

from bootstrap.sandbox import faults, outbox
from bootstrap.sandbox.tables import now_ms
from receivers.db import Database
from receivers.errors import StorageUnavailable

log = logging.getLogger(__name__)

# Other processes queue webhooks too; this is how soon this one notices theirs.
POLL_SECONDS = 0.5
TIMEOUT = (3.05, 10)


def deliver(db: Database, item: outbox.Claimed, scale: float) -> outbox.DeliveryAttempt:
    """POST (or, under fault injection, drop) one claimed webhook and record the attempt."""
    status_code: int | None = None
    error: str | None = outbox.DROPPED
    if not faults.take_drop(db):
        headers = {
            "Content-Type": "application/json",
            "Sendcloud-Signature": item.signature,
            "User-Agent": "Sendcloud-Sandbox/1.0",
        }
        try:
            # No redirects: Sendcloud does not follow them either.
            with requests.post(
                item.url,
                item.body.encode(),
                headers=headers,
                timeout=TIMEOUT,
                allow_redirects=False,
            ) as response:
                status_code, error = response.status_code, None
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: could not reach {item.url}"
    found = outbox.record(db, item, status_code, error, scale)
    log.info(
        "sandbox_webhook_attempt id=%s action=%s attempt=%s status=%s state=%s",
        item.id,
        item.action,
        found.attempt,
        status_code,
        found.state,
    )
    return found


class DeliveryWorker:
    """The delivery thread of one process."""

    def __init__(self, db: Database, scale: Callable[[], float]) -> None:
        self._db = db
        self._scale = scale
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sandbox-delivery", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Something was queued in this process: deliver it now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread and wait for the delivery in flight."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(15)

    def run_once(self) -> int:
        """Deliver every row that is due now; return how many attempts were made."""
        count = 0
        while not self._stop.is_set() and (item := outbox.claim(self._db)) is not None:
            deliver(self._db, item, self._scale())
            count += 1
        return count

    def _run(self) -> None:
        while not self._stop.is_set():
            # Clear before looking: a wake-up that arrives while we deliver is not lost.
            self._wake.clear()
            wait = POLL_SECONDS
            try:
                self.run_once()
                due = outbox.next_due_ms(self._db)
            except StorageUnavailable as exc:
                log.warning("sandbox_delivery_storage_unavailable error=%s", exc)
                due = None
            if due is not None:
                wait = max(0.0, min(wait, (due - now_ms()) / 1000))
            self._wake.wait(wait)
