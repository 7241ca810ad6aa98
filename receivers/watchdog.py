"""A bound on every PostgreSQL round trip, even to a server that takes a query and goes silent.

A frozen server (SIGSTOP, a stalled VM) or a path that swallows the replies still acknowledges
every packet: statement_timeout, TCP keepalives and tcp_user_timeout never fire, and psycopg
waits forever (docs/receiver.md). So each connection notes when it starts waiting, and one
thread per process shuts the socket (the public `Connection.fileno()`) of a wait past the
deadline: psycopg raises OperationalError, the pool drops the connection, the caller answers 503.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Self

import psycopg
from psycopg.abc import Params, Query

log = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 5.0


class Watchdog:
    """The waits in progress in this process: connection -> (deadline, socket)."""

    def __init__(self) -> None:
        self._forked()
        # Threads do not survive a fork: a gunicorn worker starts its own.
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._waits: dict[int, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._next_check = -1.0  # no thread yet

    @contextmanager
    def watch(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        """Bound the server round trips made inside this block."""
        key, deadline = id(conn), time.monotonic() + QUERY_TIMEOUT_S
        with self._lock:
            if self._next_check < 0:
                self._next_check = deadline
                threading.Thread(target=self._run, name="db-watchdog", daemon=True).start()
            self._waits[key] = (deadline, conn.fileno())
            if deadline < self._next_check:  # only when the deadline was shortened
                self._wake.set()
        try:
            yield
        finally:
            with self._lock:
                self._waits.pop(key, None)

    def _run(self) -> None:
        while True:
            # Under the lock: a wait that ends meanwhile cannot close and reuse its socket.
            with self._lock:
                now = time.monotonic()
                for key, (deadline, fd) in list(self._waits.items()):
                    if deadline > now:
                        continue
                    del self._waits[key]
                    with suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
                        sock.shutdown(socket.SHUT_RDWR)
                    log.warning("database_wait_cut after_s=%s", QUERY_TIMEOUT_S)
                # Later waits get later deadlines: sleep until the earliest one (about once
                # per deadline under load, instead of polling).
                deadlines = (deadline for deadline, _ in self._waits.values())
                self._next_check = min(deadlines, default=now + QUERY_TIMEOUT_S)
                self._wake.clear()
            self._wake.wait(max(self._next_check - now, 0.01))


WATCHDOG = Watchdog()


class WatchedCursor(psycopg.Cursor[Any]):
    """Every statement, the pool's pre-ping included, runs under the watchdog."""

    def execute(
        self,
        query: Query,
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> Self:
        """psycopg's execute, bounded."""
        with WATCHDOG.watch(self.connection):
            return super().execute(query, params, prepare=prepare, binary=binary)  # type: ignore[misc, arg-type]  # the overloads' union

    def executemany(
        self, query: Query, params_seq: Iterable[Params], *, returning: bool = False
    ) -> None:
        """psycopg's executemany, bounded."""
        with WATCHDOG.watch(self.connection):
            super().executemany(query, params_seq, returning=returning)


class WatchedConnection(psycopg.Connection[Any]):
    """COMMIT and ROLLBACK are round trips too."""

    def commit(self) -> None:
        """psycopg's commit, bounded."""
        with WATCHDOG.watch(self):
            super().commit()

    def rollback(self) -> None:
        """psycopg's rollback, bounded."""
        with WATCHDOG.watch(self):
            super().rollback()


def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> WatchedConnection:
    """SQLAlchemy's `do_connect` hook: psycopg connections whose every wait is bounded."""
    return WatchedConnection.connect(*cargs, cursor_factory=WatchedCursor, **cparams)
