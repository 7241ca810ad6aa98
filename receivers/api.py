"""Operator API over the inbox: list, replay, newest parcel status, rejection counts (Bearer)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, current_app, request

from receivers.access import Verdict, bearer_token
from receivers.error_handlers import json_error
from receivers.services import services
from receivers.store import ParcelState, StoredEvent

blueprint = Blueprint("receiver_api", __name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Ids are BIGINT: a larger number cannot name a row (a 404, not a database error).
INT64_MAX = 2**63 - 1


@blueprint.before_request
def require_operator_token() -> Response | None:
    """Every route here needs `Authorization: Bearer <onboarding token>`."""
    presented = bearer_token(request.headers.get("Authorization"))
    verdict = services(current_app).guard.check(presented, request.remote_addr or "unknown")
    if verdict is Verdict.LOCKED_OUT:
        return json_error("too many wrong tokens; wait a minute", 429, {"Retry-After": "60"})
    if verdict is Verdict.REFUSED:
        return json_error("missing or wrong Bearer token (the onboarding token)", 401)
    return None


def event_json(event: StoredEvent) -> dict[str, Any]:
    """The public JSON shape of a stored delivery."""
    return asdict(event) | {"received_at": event.received_at.isoformat()}


def parcel_json(state: ParcelState) -> dict[str, Any]:
    """The public JSON shape of a parcel's newest status."""
    return {
        "parcel_id": state.parcel_id,
        "status": {"id": state.status_id, "message": state.status_message},
        "tracking_number": state.tracking_number,
        "timestamp": state.event_timestamp,
        "carrier_status_change_timestamp": state.carrier_timestamp,
        "event_id": state.event_id,
    }


@blueprint.get("/api/events")
def list_events() -> Response | tuple[dict[str, Any], int]:
    """Stored deliveries, newest first, with the signature rejection counts; with `after=ID`
    the pull feed: ascending from the cursor, and `next_after`."""
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT):
        return json_error(f"limit must be a whole number from 1 to {MAX_LIMIT}", 400)
    action = request.args.get("action") or None
    found = services(current_app)
    if "after" in request.args:
        after = request.args["after"]
        if not after.isdigit():
            return json_error("after must be an event id (a whole number, 0 for the start)", 400)
        feed, next_after = found.store.after(int(after), int(raw))
        return {"events": [event_json(e) for e in feed], "next_after": next_after}, 200
    events = found.store.recent(int(raw), action)
    return {
        "events": [event_json(e) for e in events],
        "limit": int(raw),
        "action": action,
        "signature_rejections": found.receiver.rejections.counts(),
    }, 200


@blueprint.get("/api/receiver/stats")
def stats() -> tuple[dict[str, Any], int]:
    """Signature rejections by cause (shared by every worker and instance)."""
    return {"signature_rejections": services(current_app).receiver.rejections.counts()}, 200


@blueprint.post(f"/api/events/<int(max={INT64_MAX}):event_id>/replay")
def replay(event_id: int) -> Response | tuple[dict[str, Any], int]:
    """Re-run the handling of one stored delivery (idempotent)."""
    event = services(current_app).receiver.replay(event_id)
    if event is None:
        return json_error(f"no stored delivery with id {event_id}", 404)
    return {"event": event_json(event)}, 200


@blueprint.get(f"/api/parcels/<int(max={INT64_MAX}):parcel_id>")
def parcel(parcel_id: int) -> Response | tuple[dict[str, Any], int]:
    """The newest known status of a parcel."""
    state = services(current_app).store.parcel_state(parcel_id)
    if state is None:
        return json_error(f"no status known for parcel {parcel_id}", 404)
    return parcel_json(state), 200
