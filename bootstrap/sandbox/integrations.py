"""The emulated integrations: seeding, reading, updating and deleting rows of the sandbox."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bootstrap.sandbox.clock import iso_now
from bootstrap.sandbox.faults import Faults
from bootstrap.sandbox.tables import clients, faults, integrations
from receivers.db import Database

# Order of the fields in Sendcloud's v2 examples (GET object and IntegrationUpdate).
INTEGRATION_FIELDS = (
    "id",
    "shop_name",
    "shop_url",
    "system",
    "failing_since",
    "last_fetch",
    "last_updated_at",
    "service_point_enabled",
    "service_point_carriers",
    "webhook_active",
    "webhook_url",
)
UPDATE_FIELDS = (
    "shop_name",
    "shop_url",
    "last_updated_at",
    "service_point_enabled",
    "service_point_carriers",
    "webhook_active",
    "webhook_url",
)
# What a panel change may set: the writable fields, the OAuth2-only tick box, the shop name.
PANEL_FIELDS = (
    "shop_name",
    "shop_url",
    "service_point_enabled",
    "service_point_carriers",
    "webhook_active",
    "webhook_url",
    "oauth2_only",
)


def seed(db: Database, public_key: str, secret_key: str, integration_id: int = 1) -> None:
    """Create the keys, the "Sandbox Shop" integration and the fault switches once (race-safe)."""
    with db.begin_write() as conn:
        conn.execute(
            db.insert_ignore(clients).values(
                public_key=public_key, secret_key=secret_key, integration_id=integration_id
            )
        )
        conn.execute(
            db.insert_ignore(integrations).values(
                id=integration_id,
                shop_name="Sandbox Shop",
                shop_url=None,
                system="api",
                failing_since=None,
                last_fetch=None,
                last_updated_at=iso_now(),
                service_point_enabled=False,
                service_point_carriers="[]",
                webhook_active=False,
                webhook_url=None,
                oauth2_only=False,
            )
        )
        conn.execute(db.insert_ignore(faults).values(id=1, **Faults().to_json()))


def _row_to_dict(row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    found["service_point_carriers"] = json.loads(found["service_point_carriers"])
    found["service_point_enabled"] = bool(found["service_point_enabled"])
    found["webhook_active"] = bool(found["webhook_active"])
    found["oauth2_only"] = bool(found["oauth2_only"])
    return found


def as_integration(row: dict[str, Any]) -> dict[str, Any]:
    """The Integration object of the v2 API (GET)."""
    return {name: row[name] for name in INTEGRATION_FIELDS}


def as_update(row: dict[str, Any]) -> dict[str, Any]:
    """The IntegrationUpdate object of the v2 API (PUT/PATCH response): no id, system, …"""
    return {name: row[name] for name in UPDATE_FIELDS}


def get(conn: Connection, integration_id: int) -> dict[str, Any] | None:
    """One integration row (with `oauth2_only`), or None."""
    row = conn.execute(sa.select(integrations).where(integrations.c.id == integration_id)).first()
    return None if row is None else _row_to_dict(row)


def all_rows(conn: Connection, ordering: str | None = None) -> list[dict[str, Any]]:
    """Every integration of the account, ordered like `?ordering=` asks (default: by id)."""
    query = sa.select(integrations)
    name = (ordering or "id").lstrip("-")
    column = integrations.c.get(name, integrations.c.id)
    query = query.order_by(column.desc() if (ordering or "").startswith("-") else column)
    return [_row_to_dict(row) for row in conn.execute(query)]


def apply(conn: Connection, integration_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Write `changes` (already validated), stamp last_updated_at and return the new row."""
    values = {k: v for k, v in changes.items() if k in PANEL_FIELDS}
    if "service_point_carriers" in values:
        values["service_point_carriers"] = json.dumps(list(values["service_point_carriers"]))
    values["last_updated_at"] = iso_now()
    conn.execute(integrations.update().where(integrations.c.id == integration_id).values(**values))
    found = get(conn, integration_id)
    if found is None:  # pragma: no cover - the caller holds the write lock and saw the row
        raise LookupError(integration_id)
    return found


def delete(conn: Connection, integration_id: int) -> None:
    """Remove an integration (its keys stay valid, so clients see the 404 afterwards)."""
    conn.execute(integrations.delete().where(integrations.c.id == integration_id))
