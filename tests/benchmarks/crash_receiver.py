"""Crash test: kill -9 every gunicorn worker several times under load, then count the rows.

Run by hand from the repository root (a reduced version runs in the suite, marked slow);
BENCH_LOCK keeps it from overlapping a benchmark on a shared machine:

    flock "$BENCH_LOCK" .venv/bin/python tests/benchmarks/crash_receiver.py \\
        [--stores sqlite,pg] [--seconds 20] [--kills 8] [--clients 8]

Clients post distinct signed deliveries and, like Sendcloud, send each one again until it is
answered 200 (a killed worker's requests get a reset instead); every fifth acknowledged
delivery is also sent once more, as a duplicate. Meanwhile all workers are killed with
SIGKILL at even intervals and gunicorn starts new ones. The verdict: every delivery answered
200 is stored, no delivery is stored twice, and nothing else is stored.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from receivers.signature import sign
from tests.benchmarks.servers import (
    SECRET,
    Gunicorn,
    fresh_store,
    make_body,
    receiver_env,
    stored_hashes,
)


@dataclass
class Tally:
    """What the clients saw and what the database holds."""

    sent: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    resets: int = 0  # no complete answer (the worker died)
    refused: int = 0  # answered, but not 200 (503 while a worker restarts its pool)
    kills: int = 0
    rows: int = 0
    missing: int = 0  # acknowledged, not stored
    doubled: int = 0  # stored more than once
    strays: int = 0  # stored, never sent
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verdict(self) -> bool:
        """True when every acknowledged delivery is stored exactly once."""
        return bool(self.acknowledged) and not (self.missing or self.doubled or self.strays)


def _client(url: str, numbers: itertools.count[int], tally: Tally, stop: threading.Event) -> None:
    with requests.Session() as session:
        while not stop.is_set():
            body = make_body(next(numbers))
            digest = hashlib.sha256(body).hexdigest()
            with tally.lock:
                tally.sent.add(digest)
            copies = 2 if int(digest[:4], 16) % 5 == 0 else 1  # a duplicate after the 200
            while copies and not stop.is_set():
                try:
                    answer = session.post(
                        url,
                        data=body,
                        headers={"Sendcloud-Signature": sign(body, SECRET)},
                        timeout=30,
                    )
                except requests.RequestException:  # a reset, or a reply cut short
                    with tally.lock:
                        tally.resets += 1
                    time.sleep(0.05)
                    continue
                with tally.lock:
                    if answer.status_code == 200:
                        tally.acknowledged.add(digest)
                        copies -= 1
                    else:
                        tally.refused += 1


def crash(
    store: str, seconds: float, kills: int, clients: int, work: Path, workers: int | None = None
) -> Tally:
    """Load one fresh store through gunicorn, killing all its workers `kills` times."""
    tally = Tally()
    env = {"WEB_CONCURRENCY": str(workers)} if workers else {}
    with fresh_store(store, work) as url:
        server = Gunicorn("app:create_app()", receiver_env(url) | env, work / f"crash-{store}.log")
        stop = threading.Event()
        numbers = itertools.count(int(time.time() * 1000) % 10**9 * 1000)
        threads = [
            threading.Thread(
                target=_client, args=(server.url + "/webhooks/sendcloud", numbers, tally, stop)
            )
            for _ in range(clients)
        ]
        try:
            for thread in threads:
                thread.start()
            for _ in range(kills):
                time.sleep(seconds / (kills + 1))
                for pid in server.workers():
                    os.kill(pid, signal.SIGKILL)
                tally.kills += 1
            time.sleep(seconds / (kills + 1))
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
            server.stop()
        stored = stored_hashes(url)
    unique = set(stored)
    tally.rows = len(stored)
    tally.doubled = len(stored) - len(unique)
    tally.missing = len(tally.acknowledged - unique)
    tally.strays = len(unique - tally.sent)
    return tally


def main() -> None:
    """Run the crash test per store and print the counts; exit 1 if any store fails."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stores", default="sqlite,pg")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crash-receiver-"))
    failed = False
    for store in [s.strip() for s in args.stores.split(",") if s.strip()]:
        t = crash(store, args.seconds, args.kills, args.clients, work)
        failed |= not t.verdict()
        print(
            f"{store}: {t.kills} kills of all workers; {len(t.sent)} deliveries sent, "
            f"{len(t.acknowledged)} answered 200, {t.resets} resets, {t.refused} other answers; "
            f"{t.rows} rows: {t.missing} acknowledged but missing, {t.doubled} stored twice, "
            f"{t.strays} never sent -> {'OK' if t.verdict() else 'FAILED'}",
            flush=True,
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
