"""Relay throughput, receipt-to-delivery latency, and what running the relay costs the receiver.

Run by hand (not by pytest), from the repository root, one benchmark at a time on a shared
machine (docs/performance.md):

    flock "$BENCH_LOCK" .venv/bin/python tests/benchmarks/bench_relay.py [--store pg|sqlite]

One run, three measurements, all against a gunicorn receiver (the Procfile's settings) and
one `flask --app app relay` process (which lowers its own CPU priority), with a bare gunicorn
endpoint as the destination (keeping connections alive, as most HTTP servers do):
1. throughput: N events stored with the relay stopped, then the relay started: events/s
   from its first delivery until every one is delivered;
2. latency: events posted at a steady rate while the relay runs; p50/p99 from the receiver's
   `received_at` to the relay recording the 2xx (the delivery's attempt time);
3. receiver ratio: wrk against the receiver with the relay stopped, then running (started
   with nothing left to send, so it forwards only what this run stores), then stopped again:
   rate with the relay / mean rate without. Also reported: the relay's backlog when the burst
   ends (0: it kept up) and how long it then takes to deliver the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from receivers.signature import sign
from tests.benchmarks.bench_receiver import cpu_seconds, write_bodies, wrk
from tests.benchmarks.servers import REPO, SECRET, Gunicorn, fresh_store, make_body, receiver_env

TOKEN = receiver_env("x")["ONBOARDING_TOKEN"]


class RelayProcess:
    """`flask --app app relay` with the receiver's environment."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        full = {k: v for k, v in os.environ.items() if not k.startswith(("SENDCLOUD_", "SERVICE_"))}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "relay"],
                cwd=REPO,
                env=full | env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        """Terminate it (it finishes the sends in flight) and wait."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def delivered(engine: sa.Engine) -> int:
    """How many deliveries are delivered so far."""
    with engine.connect() as conn:
        query = "SELECT count(*) FROM relay_deliveries WHERE state = 'delivered'"
        return int(conn.execute(sa.text(query)).scalar_one())


def stored(engine: sa.Engine) -> int:
    """How many events are stored (each is one delivery to the one destination)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM webhook_events")).scalar_one())


def post_events(url: str, first: int, count: int, rate: float | None = None) -> None:
    """POST `count` distinct signed events, at `rate` per second if given."""
    started = time.monotonic()
    with requests.Session() as session:
        for i in range(count):
            body = make_body(first + i)
            headers = {"Sendcloud-Signature": sign(body, SECRET)}
            answer = session.post(
                f"{url}/webhooks/sendcloud", data=body, headers=headers, timeout=10
            )
            answer.raise_for_status()
            if rate:
                time.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))


def wait_delivered(engine: sa.Engine, total: int, timeout: float = 300) -> float:
    """Seconds until `total` deliveries are delivered."""
    started = time.monotonic()
    while delivered(engine) < total:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"only {delivered(engine)} of {total} delivered after {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - started


def latencies(engine: sa.Engine, after_id: int) -> list[float]:
    """Seconds from receipt to the delivering attempt (the last in the delivery's log), for
    events with id > after_id."""
    query = sa.text(
        "SELECT e.received_at, d.log FROM webhook_events e "
        "JOIN relay_deliveries d ON d.event_id = e.id "
        "WHERE e.id > :after AND d.state = 'delivered'"
    )
    with engine.connect() as conn:
        rows = conn.execute(query, {"after": after_id}).all()
    return [
        (_aware(json.loads(log)[-1]["at"]) - _aware(received)).total_seconds()
        for received, log in rows
    ]


def _aware(value: datetime | str) -> datetime:
    """PostgreSQL gives aware datetimes, SQLite naive UTC text."""
    found = datetime.fromisoformat(value) if isinstance(value, str) else value
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def max_event_id(engine: sa.Engine) -> int:
    """The newest stored event's id."""
    with engine.connect() as conn:
        return int(
            conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM webhook_events")).scalar_one()
        )


def main() -> None:
    """One run of the three measurements; prints one line each."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--store", default="pg", choices=["pg", "sqlite"])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    write_bodies(work, "warm", 10_000_000, 4000)
    for n, phase in enumerate(("without", "with", "again")):
        write_bodies(work, phase, 20_000_000 + n * 1_000_000, 30_000)
    with fresh_store(args.store, work) as url:
        env = receiver_env(url) | {"RELAY_ALLOW_PRIVATE": "true"}
        sink = Gunicorn(
            "tests.benchmarks.bare_app:create_app()", {}, work / "sink.log", REPO, "--keep-alive=5"
        )
        # The destination stands for the shop's system, which runs elsewhere: here it shares
        # the machine, so it runs at the lowest priority (its CPU is reported, not hidden).
        for sink_pid in (sink.proc.pid, *sink.workers()):
            os.setpriority(os.PRIO_PROCESS, sink_pid, 19)
        receiver = Gunicorn("app:create_app()", env, work / "receiver.log")
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        relays: list[RelayProcess] = []
        try:
            added = requests.post(
                f"{receiver.url}/api/destinations",
                json={"url": sink.url + "/webhooks/sendcloud"},
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=10,
            )
            added.raise_for_status()

            post_events(receiver.url, 0, args.events)
            relays.append(relay := RelayProcess(env, work / "relay.log"))
            start = wait_delivered(engine, 1)  # the process starting: imports, connections
            first = delivered(engine)
            took = wait_delivered(engine, args.events)
            print(
                f"throughput: {args.events - first} events in {took:.1f} s = "
                f"{(args.events - first) / took:.0f} events/s (from its first delivery, "
                f"{start:.1f} s after the relay process started)"
            )

            before = max_event_id(engine)
            count = int(args.rate * args.seconds)
            post_events(receiver.url, 1_000_000, count, args.rate)
            wait_delivered(engine, args.events + count)
            found = sorted(latencies(engine, before))
            p50, p99 = statistics.median(found), found[int(len(found) * 0.99) - 1]
            print(
                f"latency at {args.rate:.0f} events/s: p50 {p50 * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms ({len(found)} events)"
            )

            pid = receiver.proc.pid
            wrk(receiver.url, work, "warm", 3, 16, pid)
            relay.stop()
            without_a = wrk(receiver.url, work, "without", args.seconds, 16, pid)["rps"]
            relays.append(relay := RelayProcess(env, work / "relay.log"))
            wait_delivered(engine, stored(engine))  # the relay starts with nothing to send
            relay_cpu, sink_cpu = cpu_seconds(relay.proc.pid)[0], cpu_seconds(sink.proc.pid)[0]
            with_relay = wrk(receiver.url, work, "with", args.seconds, 16, pid)["rps"]
            relay_cpu = cpu_seconds(relay.proc.pid)[0] - relay_cpu
            sink_cpu = cpu_seconds(sink.proc.pid)[0] - sink_cpu
            total = stored(engine)
            backlog = total - delivered(engine)
            drained = wait_delivered(engine, total)
            relay.stop()
            without_b = wrk(receiver.url, work, "again", args.seconds, 16, pid)["rps"]
            ratio = with_relay / statistics.fmean((without_a, without_b))
            print(
                f"receiver: {without_a:.0f} req/s without the relay, {with_relay:.0f} with it, "
                f"{without_b:.0f} without again: ratio {ratio:.2f}; relay backlog at the end "
                f"of the burst {backlog} events, delivered {drained:.1f} s later; during the "
                f"burst the relay used {relay_cpu:.1f} CPU-s, the destination {sink_cpu:.1f}"
            )
        finally:
            for started in relays:
                started.stop()
            receiver.stop()
            sink.stop()
            engine.dispose()


if __name__ == "__main__":
    main()
