"""Driver connections held by this process for the hot path: no pool checkout per delivery."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from receivers.errors import StorageUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# Idle connections kept per process: a sync worker needs one; threaded servers a few more.
_MAX_IDLE = 4


class HeldConnections:
    """A few driver connections kept open, each used by one thread at a time."""

    def __init__(
        self,
        engine: Engine,
        errors: tuple[type[Exception], ...],
        on_connect: Callable[[Any], None] | None = None,
    ) -> None:
        self._engine = engine
        self._errors = errors
        # The pool hands back the driver's own exception when connecting fails.
        self._connect_errors: tuple[type[Exception], ...] = (SQLAlchemyError, *errors)
        self._on_connect = on_connect
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def run(self, work: Callable[[Any], T]) -> T:
        """`work(driver_connection)`; StorageUnavailable when the database cannot do it."""
        # A held connection may have died while idle (database restart): callers' statements
        # are idempotent (unique event hash), so one retry on a fresh connection is safe.
        for attempt in (1, 2):
            proxy = self._checkout()
            try:
                result = work(proxy.driver_connection)
            except self._errors as exc:
                proxy.invalidate()
                if attempt == 2:
                    raise _unavailable(exc) from exc
                log.warning("held_connection_retry error=%s", type(exc).__name__)
                continue
            self._checkin(proxy)
            return result
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close every idle connection (app shutdown)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for proxy in idle:
            proxy.invalidate()

    def _checkout(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            proxy = self._engine.raw_connection()
        except self._connect_errors as exc:
            raise _unavailable(exc) from exc
        if self._on_connect is not None:
            try:
                self._on_connect(proxy.driver_connection)
            except self._errors as exc:
                proxy.invalidate()
                raise _unavailable(exc) from exc
        return proxy

    def _checkin(self, proxy: Any) -> None:
        with self._lock:
            if len(self._idle) < _MAX_IDLE:
                self._idle.append(proxy)
                return
        proxy.invalidate()


def _unavailable(exc: Exception) -> StorageUnavailable:
    # The type only: driver messages can quote parameter values.
    return StorageUnavailable(f"the database is unavailable ({type(exc).__name__})")
