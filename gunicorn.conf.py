"""gunicorn settings used by the Procfile, the tests and the benchmark."""

import os

# Sync workers: with SQLite, threads inside one worker fight for the write lock and the
# tail latency explodes (see the README's benchmark section); one request per worker
# keeps every durable commit short.
worker_class = "sync"

# How many: a sync worker sits idle while its commit is flushed to disk (SQLite fsync
# ~0.25 ms, PostgreSQL round trip + WAL flush ~0.5 ms) and while its client reconnects,
# so more workers than cores overlap that waiting with the other workers' CPU. gunicorn's
# rule of thumb, 2 x cores + 1, gives 5 on the 2-vCPU reference machine; going from 2 to
# 5 workers took the receiver's p99 at 16 connections from 45-58 ms to 26-37 ms (figures
# in the README's receiver benchmark). Capped at 5 because each worker holds ~58 MiB
# (SQLAlchemy + psycopg): 5 workers and the master stay near 320 MiB, inside a 512 MiB
# container even on a host that reports many cores. WEB_CONCURRENCY (Heroku sets it per
# dyno size) always wins.
_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
workers = int(os.environ.get("WEB_CONCURRENCY", str(min(2 * (_cores or 1) + 1, 5))))
timeout = 30
graceful_timeout = 20
accesslog = None
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
