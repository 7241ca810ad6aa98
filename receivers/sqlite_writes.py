"""SQLite writes on the hot path: a machine-wide writer queue and a short IMMEDIATE transaction."""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any


class WriterQueue:
    """Lines up this machine's SQLite writers on a lock file before they take the write lock.

    SQLite's own busy handler polls with sleeps of 1 ms and more, several times the length
    of a commit here, so waiting writers idle while the lock is free; a blocking flock
    wakes the next writer as soon as the previous one is done.
    """

    def __init__(self, path: Path) -> None:
        self._file = path.open("a+b")
        self._threads = threading.Lock()  # flock does not exclude threads sharing the file

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the machine-wide writer turn."""
        with self._threads:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)

    def close(self) -> None:
        """Release the lock file."""
        self._file.close()


@contextmanager
def sqlite_transaction(conn: Any) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        # The connection may be broken already; the original error is the one to report.
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
