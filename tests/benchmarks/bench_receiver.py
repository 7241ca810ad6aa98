"""Receiver throughput against a bare Flask endpoint, under gunicorn with the Procfile's settings.

Run by hand (not by pytest), from the repository root; on a shared machine one benchmark at
a time, under a lock file all users share (docs/performance.md):

    flock "$BENCH_LOCK" .venv/bin/python tests/benchmarks/bench_receiver.py \\
        [--rounds 3] [--duration 10] [--stores sqlite,pg] [--against DIR ...]

Each round runs, with gunicorn.conf.py's worker count for the store: bare, receiver, bare for
every store (receivers in alternating order from round to round), and compares each receiver
run with the mean of the two bare runs around it, because the bare endpoint's own rate drifts.
wrk -t2 -c16 posts distinct pre-signed ~1.5 KB `parcel_status_changed` bodies, so every
request is a durable insert; after each run every acknowledged request must be a stored row.
`--against DIR` also runs the receiver from another checkout (a same-run A/B of a change;
repeatable).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from receivers.signature import sign
from tests.benchmarks.servers import (
    PG_SERVER,
    REPO,
    SECRET,
    Gunicorn,
    fresh_store,
    make_body,
    receiver_env,
    store_workers,
    stored_hashes,
)

LUA = Path(__file__).with_name("post.lua")
_TICK = os.sysconf("SC_CLK_TCK")


def write_bodies(directory: Path, phase: str, start: int, per_thread: int) -> None:
    """One file per wrk thread: `<signature>\\t<body>` lines, every body distinct."""
    for t in range(2):
        with (directory / f"{phase}-t{t + 1}.txt").open("wb") as out:
            for i in range(per_thread):
                body = make_body(start + t * per_thread + i)
                out.write(sign(body, SECRET).encode() + b"\t" + body + b"\n")


def cpu_seconds(server: int) -> tuple[float, float]:
    """CPU seconds so far of the gunicorn tree under `server`, and of the whole machine."""
    stats = {}
    for entry in Path("/proc").iterdir():
        try:
            raw = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if raw:
            fields = raw[raw.rindex(")") + 2 :].split()
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
    tree, frontier = set(), {server}
    while frontier:
        tree |= frontier
        frontier = {pid for pid, (ppid, _) in stats.items() if ppid in frontier} - tree
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    machine = (sum(values) - values[3] - values[4]) / _TICK  # minus idle and iowait
    return sum(stats[pid][1] for pid in tree if pid in stats), machine


def wrk(
    url: str, bodies: Path, phase: str, seconds: int, connections: int, server: int
) -> dict[str, float]:
    """Run wrk once: req/s, p50/p99 in ms, failed answers, CPU ms per request."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    cmd += ["-s", str(LUA), url + "/webhooks/sendcloud", "--", str(bodies), phase]
    before = cpu_seconds(server)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    after = cpu_seconds(server)
    found = re.search(r"WRKJSON (\{.*\})", out)
    if found is None:
        raise SystemExit("wrk gave no result:\n" + out)
    raw = json.loads(found.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(raw[k] for k in ("connect_err", "read_err", "write_err", "timeout_err"))
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50": raw["p50_us"] / 1000,
        "p99": raw["p99_us"] / 1000,
        "requests": raw["requests"],
        "failed": (int(non2xx.group(1)) if non2xx else 0) + errors,
        # gunicorn's workers alone, and the whole machine (the database, wrk, neighbours).
        "cpu_ms": (after[0] - before[0]) * 1000 / max(raw["requests"], 1),
        "machine_ms": (after[1] - before[1]) * 1000 / max(raw["requests"], 1),
    }


def checkpoint() -> None:
    """Flush PostgreSQL's and the kernel's dirty pages now, so neither lands inside a run."""
    os.sync()
    try:
        with psycopg.connect(PG_SERVER, autocommit=True, connect_timeout=3) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.OperationalError:
        pass  # no PostgreSQL: SQLite runs only


def run(variant: str, workers: int, work: Path, args: argparse.Namespace) -> dict[str, float]:
    """One gunicorn start: warm up, measure, check the rows, stop."""
    store, _, source = variant.partition("@")
    env = {"WEB_CONCURRENCY": str(workers)}
    if store == "bare":
        server = Gunicorn("tests.benchmarks.bare_app:create_app()", env, work / "bare.log")
        try:
            wrk(server.url, work, "warm", args.warmup, args.connections, server.proc.pid)
            checkpoint()
            return wrk(
                server.url, work, "measure", args.duration, args.connections, server.proc.pid
            )
        finally:
            server.stop()
    with fresh_store(store, work) as url:
        log = work / f"{store}.log"
        server = Gunicorn("app:create_app()", receiver_env(url) | env, log, Path(source or REPO))
        try:
            pid = server.proc.pid
            warm = wrk(server.url, work, "warm", args.warmup, args.connections, pid)
            checkpoint()
            result = wrk(server.url, work, "measure", args.duration, args.connections, pid)
        finally:
            server.stop()
        # Distinct bodies: every acknowledged request is one more row (in-flight ones at
        # the end of a run may add a few unacknowledged rows).
        answered = warm["requests"] - warm["failed"] + result["requests"] - result["failed"]
        result["missing"] = max(0.0, answered - len(set(stored_hashes(url))))
        return result


def main() -> None:
    """Interleaved rounds: one line per run, then one summary line per receiver."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--stores", default="sqlite,pg")
    parser.add_argument(
        "--against", type=Path, action="append", default=[], help="also run from this checkout"
    )
    args = parser.parse_args()
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    receivers = stores + [f"{s}@{d.resolve()}" for d in args.against for s in stores]
    work = Path(tempfile.mkdtemp(prefix="bench-receiver-"))
    write_bodies(work, "warm", 0, 8000)
    write_bodies(work, "measure", 1_000_000, 40000)
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s after {args.warmup}s; in {work}")
    results: dict[str, list[dict[str, float]]] = {v: [] for v in receivers}
    for rnd in range(args.rounds):
        order = receivers if rnd % 2 == 0 else receivers[::-1]
        sequence: list[tuple[str, int]] = []
        for variant in order:
            store, _, source = variant.partition("@")
            workers = store_workers(store, Path(source or REPO))
            if sequence[-1:] != [("bare", workers)]:
                sequence.append(("bare", workers))
            sequence += [(variant, workers), ("bare", workers)]
        runs = [(v, w, run(v, w, work, args)) for v, w in sequence]
        for i, (variant, workers, r) in enumerate(runs):
            line = f"round {rnd + 1} {variant:<10.40} w{workers} {r['rps']:6.0f} req/s"
            line += f"  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms"
            line += f"  cpu/req {r['cpu_ms']:.2f} (machine {r['machine_ms']:.2f}) ms"
            line += f"  failed {r['failed']:.0f}"
            if variant != "bare":
                r["ratio"] = r["rps"] / statistics.fmean(
                    (runs[i - 1][2]["rps"], runs[i + 1][2]["rps"])
                )
                line += f"  ratio {r['ratio']:.2f}  missing rows {r['missing']:.0f}"
                results[variant].append(r)
            print(line, flush=True)
    for variant, rs in results.items():
        rounds = ", ".join(f"{r['ratio']:.2f}" for r in rs)
        print(
            f"summary {variant}: ratio {statistics.fmean(r['ratio'] for r in rs):.2f} "
            f"(rounds {rounds}), "
            f"p50 {statistics.fmean(r['p50'] for r in rs):.1f} ms, "
            f"p99 max {max(r['p99'] for r in rs):.1f} ms, "
            f"req/s {statistics.fmean(r['rps'] for r in rs):.0f}, "
            f"failed {sum(r['failed'] for r in rs):.0f}, "
            f"missing rows {sum(r['missing'] for r in rs):.0f}"
        )


if __name__ == "__main__":
    main()
