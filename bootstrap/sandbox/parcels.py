"""The account's parcels, listed like API v2's GET /parcels: updated_after, cursor pages and
{"next", "previous", "parcels"}. A parcel is what its newest parcel_status_changed in the
outbox says, delivered or lost (dates dd-mm-yyyy HH:MM:SS, written in UTC here)."""

from __future__ import annotations

import base64
import bisect
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request

from bootstrap.sandbox import credentials
from bootstrap.sandbox.errors import Refused
from bootstrap.sandbox.tables import outbox

blueprint = Blueprint("sandbox_parcels", __name__)


def _after_ms(raw: str | None) -> int:
    try:
        when = datetime.fromisoformat(raw) if raw else None
    except ValueError as exc:
        raise Refused(400, "updated_after: Enter a valid date/time.") from exc
    return -1 if when is None else int(when.replace(tzinfo=when.tzinfo or UTC).timestamp() * 1000)


def _position(raw: str | None) -> tuple[bool, int | None]:
    """(backwards, id) of a cursor: like Django REST framework's, opaque base64 of r= and p=."""
    try:
        fields = parse_qs(base64.b64decode(raw.encode(), validate=True).decode()) if raw else {}
        return fields.get("r") == ["1"], int(fields["p"][0]) if raw else None
    except (ValueError, KeyError) as exc:
        raise Refused(404, "Invalid cursor") from exc


def _link(position: int, backwards: bool) -> str:
    cursor = urlencode({"r": 1, "p": position} if backwards else {"p": position})
    args = {k: v for k, v in request.args.items() if k != "cursor"}
    query = urlencode({**args, "cursor": base64.b64encode(cursor.encode()).decode()})
    return f"{request.base_url}?{query}"


def _parcels(after_ms: int) -> list[dict[str, Any]]:
    """The newest state of every parcel changed after `after_ms`, by id."""
    query = sa.select(outbox.c.body).where(outbox.c.action == "parcel_status_changed")
    with current_app.extensions["sandbox"].db.begin_read() as conn:
        events = [json.loads(body) for body in conn.execute(query.order_by(outbox.c.id)).scalars()]
    newest: dict[int, dict[str, Any]] = {}
    for event in events:
        known = newest.get(event["parcel"]["id"])
        newest[event["parcel"]["id"]] = max(known or event, event, key=lambda e: e["timestamp"])
    found = [e["parcel"] for e in newest.values() if e["timestamp"] > after_ms]
    return sorted(found, key=lambda parcel: int(parcel["id"]))


@blueprint.get("/api/v2/parcels")
@blueprint.get("/api/v2/parcels/")
def list_parcels() -> Response:
    """Parcels updated after `updated_after`, by id, a page (SandboxConfig) at a time."""
    credentials.authenticate(current_app.extensions["sandbox"].db)
    backwards, position = _position(request.args.get("cursor"))
    listed = _parcels(_after_ms(request.args.get("updated_after")))
    ids, size = (
        [p["id"] for p in listed],
        current_app.extensions["sandbox"].config.parcels_page_size,
    )
    if backwards and position is not None:
        stop = bisect.bisect_left(ids, position)
        start = max(0, stop - size)
    else:
        start = 0 if position is None else bisect.bisect_right(ids, position)
        stop = start + size
    page = listed[start:stop]
    return jsonify(
        {
            "next": _link(page[-1]["id"], False) if page and stop < len(ids) else None,
            "previous": _link(page[0]["id"], True) if page and start > 0 else None,
            "parcels": page,
        }
    )
