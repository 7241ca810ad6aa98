"""Liveness and readiness endpoints for the load balancer."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app

from receivers.errors import StorageUnavailable
from receivers.services import services

log = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """The process is up and serving requests."""
    return {"status": "ok"}, 200


@blueprint.get("/readyz")
def readyz() -> tuple[dict[str, str], int]:
    """Ready when the database takes writes (`Database.check_ready`); else 503 and the cause."""
    found = services(current_app)
    try:
        if not found.db.schema_ready:
            found.db.upgrade(found.migrations)
        found.db.check_ready()
    except StorageUnavailable as exc:
        log.warning("not_ready reason=%s", exc)
        return {"status": "unavailable", "reason": str(exc)}, 503
    return {"status": "ready"}, 200
