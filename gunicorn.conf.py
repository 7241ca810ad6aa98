"""gunicorn settings used by the Procfile, the tests and the benchmark."""

import os

# Sync workers: with SQLite, threads inside one worker fight for the write lock and the
# tail latency explodes (see the README's benchmark section); one request per worker
# keeps every durable commit short. Scale with WEB_CONCURRENCY.
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 30
graceful_timeout = 20
keepalive = 2
accesslog = None
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
