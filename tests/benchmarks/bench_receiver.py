"""Receiver throughput against a bare Flask endpoint, under gunicorn with the Procfile's settings.

Run by hand (not part of pytest or CI), from the repository root:

    .venv/bin/python tests/benchmarks/bench_receiver.py [--rounds 4] [--duration 10]
        [--connections 16] [--no-pg] [--no-sqlite] [--variants sqlite,pg,proto-pg,bare-wsgi]

Each round starts gunicorn (gunicorn.conf.py: sync workers, as many as it picks for the
store) once per run: bare, receiver, bare, receiver, bare (receivers in alternating order;
the bare runs get the worker count of the receiver next to them, with an extra bare run
where two neighbours differ), and compares each receiver run with the mean of the two bare
runs around it. The variants are
the bare app, the real receiver on a fresh durable SQLite file (WAL, synchronous=FULL), and the
real receiver on a fresh PostgreSQL schema (synchronous_commit=on; TEST_DATABASE_URL or the
local server). wrk (a separate process) posts distinct pre-signed ~1.5 KB
`parcel_status_changed` bodies, so every request is a real insert. Rounds alternate the order.
`proto-pg` is the reference's raw-driver prototype (tests/benchmarks/proto_app.py), a yardstick
for what this machine allows in the same run; it is not the receiver. `bare-wsgi` is a plain
WSGI callable answering 200 (tests/benchmarks/wsgi_app.py, PostgreSQL's worker count): its
ratio shows how much of the bare Flask endpoint's cost is Flask itself, since the receiver
serves its path in front of Flask.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import runpy
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from receivers.signature import sign  # noqa: E402 (needs the repository on sys.path first)
from tests.benchmarks import proto_app  # noqa: E402

SECRET = "bench-webhook-secret-0123456789abcdef"
PG_SERVER = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
LUA = Path(__file__).with_name("post.lua")


def make_body(n: int) -> bytes:
    """A Sendcloud-style parcel_status_changed body of about 1.5 KB (Python json.dumps style)."""
    ref = f"{n:012d}"
    payload = {
        "action": "parcel_status_changed",
        "timestamp": 1700000000000 + n,
        "carrier_status_change_timestamp": 1700000000000 + n,
        "parcel": {
            "id": 100000000 + n,
            "name": "John Doe",
            "company_name": "Sendcloud Test BV",
            "address": "Stadhuisplein 10",
            "address_divided": {"street": "Stadhuisplein", "house_number": "10"},
            "city": "Eindhoven",
            "postal_code": "5611EM",
            "telephone": "+31612345678",
            "email": "john.doe@example.com",
            "date_created": "2023-11-01T10:15:22Z",
            "tracking_number": f"3SYZXG{ref}",
            "tracking_url": f"https://tracking.example.com/forward?carrier=postnl&code=3SYZXG{ref}"
            "&destination=NL&lang=nl-nl&source=NL&type=parcel&verification=5611EM",
            "weight": "2.000",
            "label": {
                "normal_printer": [f"https://panel.example.com/api/v2/labels/normal/{n}?s=0"],
                "label_printer": f"https://panel.example.com/api/v2/labels/label_printer/{n}",
            },
            "customs_declaration": {},
            "order_number": f"ORD-{n:08d}",
            "insured_value": 0,
            "to_state": None,
            "type": "parcel",
            "shipment_uuid": "7ade61ad-c21a-4beb-b7fd-2f579feacdb6",
            "external_order_id": f"{555000 + n}",
            "is_return": False,
            "total_order_value": "39.90",
            "total_order_value_currency": "EUR",
            "colli_uuid": "8f3c5a77-0b2e-4e4f-9c56-1b2d3e4f5a6b",
            "status": {"id": 1000, "message": "Ready to send"},
            "data": {},
            "country": {"iso_3": "NLD", "iso_2": "NL", "name": "Netherlands"},
            "shipment": {"id": 8, "name": "PostNL Standard 0-23kg"},
            "carrier": {"code": "postnl"},
        },
    }
    return json.dumps(payload).encode()


def write_bodies(directory: Path, phase: str, start: int, per_thread: int, threads: int) -> None:
    """One file per wrk thread: `<signature>\\t<body>` lines, every body distinct."""
    for t in range(threads):
        with (directory / f"{phase}-t{t + 1}.txt").open("wb") as out:
            for i in range(per_thread):
                body = make_body(start + t * per_thread + i)
                out.write(sign(body, SECRET).encode() + b"\t" + body + b"\n")


def free_port() -> int:
    """A currently free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_gunicorn(app: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn with the Procfile's config file; returns the process and its base URL."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SENDCLOUD_", "SERVICE_"))}
    full.update(env)
    command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"]
    proc = subprocess.Popen(
        [*command, "--bind", f"127.0.0.1:{port}", app],
        cwd=REPO,
        env=full,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                time.sleep(0.5)  # let every worker finish booting
                return proc, url
        except requests.RequestException:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"gunicorn did not start, see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn (by its own pid) and wait for it."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command, CPU seconds) for every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        command = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
        found[int(entry.name)] = (int(fields[1]), command, cpu)
    return found


def _machine_busy() -> float:
    """Non-idle CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / _TICK  # minus idle and iowait


def _cpu_by_group(root: int) -> dict[str, float]:
    """CPU seconds so far of the gunicorn tree under `root` and of all postgres processes."""
    stats = _proc_stats()
    tree, frontier = set(), {root}
    while frontier:
        tree |= frontier
        frontier = {pid for pid, (ppid, _, _) in stats.items() if ppid in frontier} - tree
    return {
        "gunicorn": sum(stats[pid][2] for pid in tree if pid in stats),
        "postgres": sum(cpu for _, command, cpu in stats.values() if command == "postgres"),
        "machine": _machine_busy(),
    }


def wrk(
    url: str, bodies: Path, phase: str, seconds: int, connections: int, root: int = 0
) -> dict[str, float]:
    """Run wrk once; return req/s, p50/p99 in ms, error counts and CPU ms per request."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    cmd += ["-s", str(LUA), url + "/webhooks/sendcloud", "--", str(bodies), phase]
    before, wrk_before = _cpu_by_group(root), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    after, wrk_after = _cpu_by_group(root), resource.getrusage(resource.RUSAGE_CHILDREN)
    found = re.search(r"WRKJSON (\{.*\})", out)
    if found is None:
        raise SystemExit("wrk gave no result:\n" + out)
    raw = json.loads(found.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(raw[k] for k in ("connect_err", "read_err", "write_err", "timeout_err"))
    per_request = 1000 / max(raw["requests"], 1)
    cpu = {f"cpu_{k}": (after[k] - before[k]) * per_request for k in before}
    wrk_cpu = wrk_after.ru_utime + wrk_after.ru_stime - wrk_before.ru_utime - wrk_before.ru_stime
    cpu["cpu_wrk"] = wrk_cpu * per_request
    return {
        **cpu,
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50": raw["p50_us"] / 1000,
        "p99": raw["p99_us"] / 1000,
        "requests": raw["requests"],
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors,
    }


def receiver_env(database_url: str) -> dict[str, str]:
    """Real-keys mode (no sandbox), service points off, one known webhook secret."""
    return {
        "DATABASE_URL": database_url,
        "SENDCLOUD_PUBLIC_KEY": "bench-public-key",
        "SENDCLOUD_SECRET_KEY": "bench-secret-key",
        "SENDCLOUD_WEBHOOK_SECRET": SECRET,
        "SENDCLOUD_INTEGRATION_ID": "1",
        "SERVICE_POINT_ENABLED": "false",
        "ONBOARDING_TOKEN": "bench-onboarding-token-0123456789",
    }


def stored_rows(variant: str, database_url: str) -> int:
    """How many deliveries the run stored (checks the inserts were real)."""
    if variant == "sqlite":
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return int(conn.execute("SELECT count(*) FROM webhook_events").fetchone()[0])
    table = "events" if variant == "proto-pg" else "webhook_events"
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 (fixed names)
        return int(row[0]) if row else 0


def _pg_schema() -> tuple[str, str]:
    """A fresh PostgreSQL schema and a URL whose search_path points at it."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_SERVER else "?"
    return schema, f"{PG_SERVER}{sep}options=-csearch_path%3D{schema}"


def checkpoint() -> None:
    """Flush PostgreSQL's and the kernel's dirty pages now, so neither lands inside a run.

    Earlier runs leave ~100 MB of WAL each; without this a size- or time-triggered
    checkpoint falls into a random run (SQLite's too: they share the disk) and its p99
    jumps to hundreds of milliseconds. The same happened to the first SQLite run of every
    benchmark (p99 180-300 ms) until the ~130 MB of request files written at the start
    were synced here: the kernel's write-back of them began ~30 s later, during that run,
    and SQLite's fsyncs queued behind it. The PostgreSQL step is skipped without a server.
    """
    os.sync()
    try:
        with psycopg.connect(PG_SERVER, autocommit=True, connect_timeout=3) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.OperationalError:
        pass


def procfile_workers(variant: str) -> int:
    """The worker count gunicorn.conf.py picks for `variant`'s store (it depends on it)."""
    url = "sqlite:///bench.sqlite3" if variant == "sqlite" else PG_SERVER
    saved = dict(os.environ)
    os.environ.pop("WEB_CONCURRENCY", None)
    os.environ["DATABASE_URL"] = url
    try:
        return int(runpy.run_path(str(REPO / "gunicorn.conf.py"))["workers"])
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_variant(
    variant: str, work: Path, args: argparse.Namespace, workers: int
) -> dict[str, float]:
    """Start one server with `workers` workers, warm it up, measure it, stop it."""
    schema = None
    env: dict[str, str]
    if variant == "bare":
        app, env, url_db = "tests.benchmarks.bare_app:create_app()", {}, ""
    elif variant == "bare-wsgi":
        app, env, url_db = "tests.benchmarks.wsgi_app:create_app()", {}, ""
    elif variant == "sqlite":
        db_file = work / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
        url_db = f"sqlite:///{db_file}"
        app, env = "app:create_app()", receiver_env(url_db)
    elif variant == "proto-pg":
        schema, url_db = _pg_schema()
        with psycopg.connect(url_db, autocommit=True) as conn:
            conn.execute(proto_app.SCHEMA)
        app = "tests.benchmarks.proto_app:create_app()"
        env = {"PROTO_DSN": url_db, "PROTO_SECRET": SECRET}
    else:
        schema, url_db = _pg_schema()
        app, env = "app:create_app()", receiver_env(url_db)
    env["WEB_CONCURRENCY"] = str(workers)
    proc, url = start_gunicorn(app, env, work / f"gunicorn-{variant}.log")
    try:
        warm = wrk(url, work, "warm", args.warmup, args.connections, proc.pid)
        checkpoint()
        result = wrk(url, work, "measure", args.duration, args.connections, proc.pid)
        if not variant.startswith("bare"):
            # Every answered request must be a stored row (distinct bodies, no duplicates).
            result["answered"] = warm["requests"] + result["requests"]
            result["stored"] = stored_rows(variant, url_db)
    finally:
        stop(proc)
        for leftover in work.glob("bench-*.sqlite3*"):
            leftover.unlink()  # ~250 MB per run
        if schema is not None:
            with psycopg.connect(PG_SERVER, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return result


def main() -> None:
    """Interleaved rounds; prints one line per run and a summary of ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--variants",
        help="comma-separated receiver variants instead of the default sqlite,pg; "
        "proto-pg is the reference's raw-driver prototype and bare-wsgi a plain WSGI "
        "endpoint (yardsticks, not the receiver)",
    )
    args = parser.parse_args()
    if args.variants:
        chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = set(chosen) - {"sqlite", "pg", "proto-pg", "bare-wsgi"}
        if unknown:
            parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    else:
        chosen = ([] if args.no_sqlite else ["sqlite"]) + ([] if args.no_pg else ["pg"])
    variants = ["bare", *chosen]
    work = Path(tempfile.mkdtemp(prefix="bench-receiver-"))
    per_thread = 40000
    write_bodies(work, "warm", 0, 8000, 2)
    write_bodies(work, "measure", 1_000_000, per_thread, 2)
    ratios: dict[str, list[float]] = {v: [] for v in variants if v != "bare"}
    p99s: dict[str, list[float]] = {v: [] for v in variants}
    print(f"workdir {work}; wrk -t2 -c{args.connections} -d{args.duration}s after {args.warmup}s")
    receivers = [v for v in variants if v != "bare"]
    for rnd in range(args.rounds):
        # The bare endpoint's own throughput drifts by a third within one run on this VM,
        # so every receiver run is bracketed by bare runs and compared with their mean.
        order = receivers if rnd % 2 == 0 else list(reversed(receivers))
        # Bare runs use the worker count of the receiver they bracket (it depends on the store).
        sequence: list[tuple[str, int]] = []
        for v in order:
            workers = procfile_workers(v)
            if not sequence or sequence[-1] != ("bare", workers):
                sequence.append(("bare", workers))
            sequence += [(v, workers), ("bare", workers)]
        results = [(v, w, run_variant(v, work, args, w)) for v, w in sequence]
        for i, (v, w, r) in enumerate(results):
            if v == "bare":
                baseline = r["rps"]
            else:
                baseline = statistics.fmean((results[i - 1][2]["rps"], results[i + 1][2]["rps"]))
            ratio = r["rps"] / baseline
            p99s[v].append(r["p99"])
            if v != "bare":
                ratios[v].append(ratio)
            print(
                f"round {rnd + 1} {v:<8} w{w} {r['rps']:6.0f} req/s  p50 {r['p50']:6.2f} ms  "
                f"p99 {r['p99']:6.2f} ms  ratio {ratio:4.2f}  non2xx {r['non2xx']:.0f}  "
                f"socket_err {r['socket_errors']:.0f}"
                + (f"  stored {r['stored']:.0f}/{r['answered']:.0f}" if "stored" in r else "")
            )
            print(
                f"        cpu ms/req: machine {r['cpu_machine']:.2f}  gunicorn "
                f"{r['cpu_gunicorn']:.2f}  postgres {r['cpu_postgres']:.2f}  wrk {r['cpu_wrk']:.2f}"
            )
    for v, values in ratios.items():
        print(
            f"summary {v:<7} ratio mean {statistics.fmean(values):.2f} "
            f"(rounds: {', '.join(f'{x:.2f}' for x in values)}); "
            f"p99 max {max(p99s[v]):.2f} ms"
        )


if __name__ == "__main__":
    main()
