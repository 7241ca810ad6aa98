"""gunicorn settings used by the Procfile, the tests and the benchmark."""

import os

# Sync workers: with SQLite, threads inside one worker fight for the write lock and the
# tail latency explodes (see the README's benchmark section); one request per worker
# keeps every durable commit short.
worker_class = "sync"

# How many depends on the store (the figures are in the README's receiver benchmark):
# - PostgreSQL: a sync worker sits idle during each commit's round trip and WAL flush, so
#   more workers than cores overlap that wait with the others' CPU. gunicorn's rule of
#   thumb, 2 x cores + 1, gives 5 on the 2-vCPU reference machine (2 -> 5 workers took
#   the p99 at 16 connections from 45-58 ms to 26-37 ms), capped at 5 because each worker
#   holds ~58 MiB (SQLAlchemy + psycopg): 5 workers and the master stay near 320 MiB.
# - SQLite (DATABASE_URL unset or sqlite:): writes are serialised on one lock, and workers
#   beyond cores + 1 only queue on it and get preempted while holding it; 3 instead of 5
#   workers took the receiver from 0.30 to 0.37 of the bare endpoint, with a lower p99.
# WEB_CONCURRENCY (Heroku sets it per dyno size) always wins.
_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
_sqlite = (os.environ.get("DATABASE_URL", "").strip() or "sqlite:").startswith("sqlite:")
_default = (_cores or 1) + 1 if _sqlite else min(2 * (_cores or 1) + 1, 5)
workers = int(os.environ.get("WEB_CONCURRENCY", str(_default)))
timeout = 30
graceful_timeout = 20
accesslog = None
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
