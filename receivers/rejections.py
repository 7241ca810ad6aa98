"""Refused deliveries counted in memory, so an unsigned flood costs less than a valid delivery:
one statement per process every FLUSH_SECONDS (or when the counts are read), the first refusal
after a quiet period logged at once, the rest in one summary line. A crash loses at most one
period's counts of one process."""

from __future__ import annotations

import logging
import threading
from collections import Counter

from receivers.errors import StorageUnavailable
from receivers.store import EventStore

log = logging.getLogger("receivers.handling")

FLUSH_SECONDS = 10.0


class Rejections:
    """This process's refusals by cause, not yet in the shared table."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def add(self, cause: str, reason: str, size: int) -> None:
        """Count one refusal (never the signature, the key or the body)."""
        with self._lock:
            self._pending[cause] += 1
            if self._timer is not None:
                return
            self._timer = threading.Timer(FLUSH_SECONDS, self.flush)
            self._timer.daemon = True
            self._timer.start()
        log.warning("webhook_rejected cause=%s bytes=%d reason=%s", cause, size, reason)

    def flush(self) -> None:
        """Write the pending counts in one statement (on failure they wait for the next)."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if not pending:
            return
        summary = " ".join(f"{cause}={n}" for cause, n in sorted(pending.items()))
        try:
            self.store.add_rejections(pending)
        except StorageUnavailable as exc:
            log.warning("webhook_rejections_not_counted %s error=%s", summary, exc)
            with self._lock:
                self._pending.update(pending)
            return
        log.info("webhook_rejections_counted %s", summary)

    def counts(self) -> dict[str, int]:
        """The shared counts by cause, this process's pending ones written first."""
        self.flush()
        return self.store.rejection_counts()
