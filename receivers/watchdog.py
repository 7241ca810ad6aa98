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
_TICK_S = 0.1  # how late past its deadline a wait may be cut


class Watchdog:
    """The waits in progress in this process: connection -> (deadline, socket)."""

    def __init__(self) -> None:
        self._waits: dict[int, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._pid = 0

    @contextmanager
    def watch(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        """Bound the server round trips made inside this block."""
        key = id(conn)
        with self._lock:
            if self._pid != os.getpid():  # first use in this (forked) process
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="db-watchdog", daemon=True).start()
            self._waits[key] = (time.monotonic() + QUERY_TIMEOUT_S, conn.fileno())
        try:
            yield
        finally:
            with self._lock:
                self._waits.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(_TICK_S)
            now = time.monotonic()
            # Under the lock: a wait that ends meanwhile cannot close and reuse its socket.
            with self._lock:
                for key, (deadline, fd) in list(self._waits.items()):
                    if deadline > now:
                        continue
                    del self._waits[key]
                    with suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
                        sock.shutdown(socket.SHUT_RDWR)
                    log.warning("database_wait_cut after_s=%s", QUERY_TIMEOUT_S)


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
