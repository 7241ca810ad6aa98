"""The reference's raw-driver prototype, as a yardstick in the same run (not the receiver).

`../shared/reference/receiver-performance.md`, mode `pg`: HMAC of the raw body, json.loads,
one autocommit `INSERT … ON CONFLICT DO NOTHING` on a psycopg connection held per worker.
No Flask extensions, no marshmallow, no state upsert. The benchmark runs it with
`--variants proto-pg` to show what this machine allows today next to the real receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import psycopg
from flask import Flask, request

# Created by the benchmark before the workers start (they would race on CREATE TABLE).
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id BIGSERIAL PRIMARY KEY, event_id TEXT UNIQUE,
    action TEXT, ts BIGINT, body TEXT)
"""
INSERT = (
    "INSERT INTO events (event_id, action, ts, body) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (event_id) DO NOTHING"
)


def create_app() -> Flask:
    """The prototype app; PROTO_DSN is a psycopg connection string."""
    dsn = os.environ["PROTO_DSN"]
    secret = os.environ["PROTO_SECRET"].encode()
    app = Flask(__name__)
    held: dict[str, Any] = {}

    def connection() -> psycopg.Connection[Any]:
        if "conn" not in held:
            held["conn"] = psycopg.connect(dsn, autocommit=True)
        conn: psycopg.Connection[Any] = held["conn"]
        return conn

    @app.post("/webhooks/sendcloud")
    def hook() -> tuple[str, int]:
        body = request.get_data(cache=False)
        signature = request.headers.get("Sendcloud-Signature", "")
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "bad signature", 401
        data = json.loads(body)
        event_id = hashlib.sha256(body).hexdigest()
        connection().execute(INSERT, (event_id, data["action"], data["timestamp"], body.decode()))
        return "ok", 200

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok", 200

    return app
