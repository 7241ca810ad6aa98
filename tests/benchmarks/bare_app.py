"""The benchmark's ceiling: a bare Flask endpoint that ignores the body and answers 200."""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    """A Flask app with the receiver's route and a health check, doing no work."""
    app = Flask(__name__)

    @app.post("/webhooks/sendcloud")
    def receive() -> tuple[str, int]:
        return "ok", 200

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok", 200

    return app
