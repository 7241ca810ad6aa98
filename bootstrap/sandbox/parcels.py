"""The account's parcels, listed like API v2's GET /parcels: updated_after, cursor pages and
{"next", "previous", "parcels"} with Sendcloud's dd-mm-yyyy dates (written in UTC here)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.engine import Connection

from bootstrap.sandbox import credentials
from bootstrap.sandbox.errors import Refused
from bootstrap.sandbox.tables import parcels
from receivers.db import Database

blueprint = Blueprint("sandbox_parcels", __name__)


def remember(db: Database, conn: Connection, payload: dict[str, Any]) -> None:
    """Keep the parcel of a parcel_status_changed, unless a newer change is kept already."""
    parcel = payload["parcel"]
    stmt = db.insert(parcels).values(
        id=parcel["id"], updated_ms=payload["timestamp"], body=json.dumps(parcel)
    )
    new = stmt.excluded
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[parcels.c.id],
            set_={"updated_ms": new.updated_ms, "body": new.body},
            where=new.updated_ms >= parcels.c.updated_ms,
        )
    )


def _after_ms(raw: str | None) -> int:
    if raw is None:
        return -1
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise Refused(400, "updated_after: Enter a valid date/time.") from exc
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)


def _position(raw: str | None) -> tuple[bool, int | None]:
    """(backwards, id) of a cursor; like Django REST framework's, opaque base64 of r= and p=."""
    if raw is None:
        return False, None
    try:
        fields = parse_qs(base64.b64decode(raw.encode(), validate=True).decode())
        return fields.get("r") == ["1"], int(fields["p"][0])
    except (ValueError, KeyError) as exc:
        raise Refused(404, "Invalid cursor") from exc


def _link(position: int, backwards: bool) -> str:
    cursor = urlencode({"r": 1, "p": position} if backwards else {"p": position})
    args = {k: v for k, v in request.args.items() if k != "cursor"}
    query = urlencode({**args, "cursor": base64.b64encode(cursor.encode()).decode()})
    return f"{request.base_url}?{query}"


@blueprint.get("/api/v2/parcels")
@blueprint.get("/api/v2/parcels/")
def list_parcels() -> Response:
    """Parcels updated after `updated_after`, by id, a page at a time (SandboxConfig)."""
    box = current_app.extensions["sandbox"]
    credentials.authenticate(box.db)
    after = _after_ms(request.args.get("updated_after"))
    backwards, position = _position(request.args.get("cursor"))
    size = box.config.parcels_page_size
    query = sa.select(parcels).where(parcels.c.updated_ms > after)
    if position is not None:
        query = query.where(parcels.c.id < position if backwards else parcels.c.id > position)
    query = query.order_by(parcels.c.id.desc() if backwards else parcels.c.id).limit(size + 1)
    with box.db.begin_read() as conn:
        rows = conn.execute(query).all()
    more, rows = len(rows) > size, rows[:size]
    rows = rows[::-1] if backwards else rows
    later = bool(rows) and (backwards or more)
    earlier = bool(rows) and (more if backwards else position is not None)
    return jsonify(
        {
            "next": _link(rows[-1].id, False) if later else None,
            "previous": _link(rows[0].id, True) if earlier else None,
            "parcels": [json.loads(row.body) for row in rows],
        }
    )
