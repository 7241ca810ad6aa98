"""Recording the steps of one attempt as they happen (database + optional live callback)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bootstrap.attempts import AttemptStore

log = logging.getLogger(__name__)

# (step name, status, detail): the CLI prints these as they happen.
OnStep = Callable[[str, str, str], None]


class Progress:
    """The step an attempt is on; failures land on that step."""

    def __init__(self, store: AttemptStore, attempt_id: str, on_step: OnStep | None) -> None:
        self.store = store
        self.attempt_id = attempt_id
        self.on_step = on_step
        self.current: str | None = None

    def begin(self, name: str, detail: str = "") -> None:
        """Mark `name` running."""
        self.current = name
        self._record(name, "running", detail)

    def done(self, detail: str) -> None:
        """Mark the current step done."""
        if self.current:
            self._record(self.current, "done", detail)
            self.current = None

    def skip(self, name: str, detail: str) -> None:
        """Mark `name` skipped (not needed this time)."""
        self._record(name, "skipped", detail)

    def fail(self, detail: str) -> None:
        """Mark the current step failed."""
        if self.current:
            self._record(self.current, "failed", detail)
            self.current = None

    def _record(self, name: str, status: str, detail: str) -> None:
        self.store.set_step(self.attempt_id, name, status, detail)
        log.info("bootstrap_step attempt_id=%s step=%s status=%s", self.attempt_id, name, status)
        if self.on_step:
            self.on_step(name, status, detail)
