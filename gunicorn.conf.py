"""gunicorn settings used by the Procfile, the tests and the benchmark (docs/operating.md)."""

import os

# gevent workers: a client that sends its request slowly (or never finishes it) holds one
# greenlet, not a whole worker, so 50 slow sockets do not stop anyone else. psycopg 3 waits
# cooperatively under gevent by itself; SQLite's calls are short and stay in C.
worker_class = "gevent"
worker_connections = 1000
# No keep-alive (as with sync workers): a connection kept open stays with the worker that
# accepted it, so a few busy clients would queue on one worker while the others idle; a new
# connection per request goes to whichever worker is free (docs/performance.md).
keepalive = 0

# One worker more than cores, whatever the store (docs/performance.md): a receiver's work is
# mostly Python, so more processes only queue for the cores and evict each other's caches.
# WEB_CONCURRENCY (Heroku sets it per dyno size) always wins.
_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
workers = int(os.environ.get("WEB_CONCURRENCY", str((_cores or 1) + 1)))
timeout = 30
graceful_timeout = 20
accesslog = None
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# X-Forwarded-Proto is believed only with TRUSTED_PROXY_HOPS set (the app's ProxyFix then
# reads exactly that many hops); with 0, from nobody, not even 127.0.0.1.
_hops = os.environ.get("TRUSTED_PROXY_HOPS", "").strip()
forwarded_allow_ips = "*" if _hops.isdigit() and int(_hops) > 0 else ""

# A restart binds even while a killed master's orphaned workers still hold the port (they
# serve out their requests and exit; docs/operating.md).
reuse_port = True


def worker_exit(server: object, worker: object) -> None:
    """A worker that stops gracefully writes what it holds in memory (refusal counts)."""
    app = getattr(worker, "wsgi", None)
    for stop in reversed(getattr(app, "extensions", {}).get("on_shutdown", [])):
        stop()
