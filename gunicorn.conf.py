"""gunicorn settings used by the Procfile, the tests and the benchmark."""

import os

# Sync workers: with SQLite, threads inside one worker fight for the write lock and the
# tail latency explodes; one request per worker keeps every durable commit short.
worker_class = "sync"

# One worker more than cores, whatever the store (docs/performance.md): a receiver's work is
# mostly Python, so more processes only queue for the cores and evict each other's caches
# (5 workers against 3 on PostgreSQL: 0.21-0.24 against 0.29-0.30 of the bare endpoint).
# WEB_CONCURRENCY (Heroku sets it per dyno size) always wins.
_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
workers = int(os.environ.get("WEB_CONCURRENCY", str((_cores or 1) + 1)))
timeout = 30
graceful_timeout = 20
accesslog = None
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
