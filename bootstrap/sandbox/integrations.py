"""The emulated integrations: their rows, and how Sendcloud validates a change (DRF wording)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bootstrap.sandbox.errors import CarrierNotOffered, ValidationFailed
from bootstrap.sandbox.tables import integrations

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
UPDATE_FIELDS = tuple(
    n for n in INTEGRATION_FIELDS if n not in ("id", "system", "failing_since", "last_fetch")
)
# The writable fields of IntegrationUpdate; everything else in a body is ignored (read-only).
WRITABLE = tuple(n for n in UPDATE_FIELDS if n not in ("shop_name", "last_updated_at"))
# What a panel change may set: the writable fields, the shop name, the OAuth2-only tick box.
PANEL_FIELDS = (*WRITABLE, "shop_name", "oauth2_only")
# The carriers this sandbox account offers for service points (GET /carriers): the list of
# Sendcloud's 2026 docs example.
OFFERED_CARRIERS = ("postnl", "dhl", "dpd", "ups")


def as_integration(row: dict[str, Any]) -> dict[str, Any]:
    """The Integration object of the v2 API (GET)."""
    return {name: row[name] for name in INTEGRATION_FIELDS}


def as_update(row: dict[str, Any]) -> dict[str, Any]:
    """The IntegrationUpdate object of the v2 API (PUT/PATCH response): no id, system, …"""
    return {name: row[name] for name in UPDATE_FIELDS}


def get(conn: Connection, integration_id: int) -> dict[str, Any] | None:
    """One integration row (with `oauth2_only`), or None."""
    row = conn.execute(sa.select(integrations).where(integrations.c.id == integration_id)).first()
    return None if row is None else _as_dict(row)


def all_rows(conn: Connection, ordering: str | None = None) -> list[dict[str, Any]]:
    """Every integration of the account, ordered like `?ordering=` asks (default: by id)."""
    column = integrations.c.get((ordering or "id").lstrip("-"), integrations.c.id)
    order = column.desc() if (ordering or "").startswith("-") else column
    return [_as_dict(row) for row in conn.execute(sa.select(integrations).order_by(order))]


def apply(
    conn: Connection, integration_id: int, changes: dict[str, Any], now: str
) -> dict[str, Any]:
    """Write `changes` (already validated), stamp last_updated_at and return the new row."""
    values = {k: v for k, v in changes.items() if k in PANEL_FIELDS}
    if "service_point_carriers" in values:
        values["service_point_carriers"] = json.dumps(list(values["service_point_carriers"]))
    values["last_updated_at"] = now
    conn.execute(integrations.update().where(integrations.c.id == integration_id).values(**values))
    return get(conn, integration_id) or {}


def _as_dict(row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    found["service_point_carriers"] = json.loads(found["service_point_carriers"])
    return found


def clean_update(
    body: Any, current: dict[str, Any], partial: bool, v3: bool = False
) -> dict[str, Any]:
    """Return the writable changes in `body`, or raise ValidationFailed listing every problem
    (CarrierNotOffered for carriers this account does not offer)."""
    if not isinstance(body, dict):
        kind = type(body).__name__
        raise ValidationFailed(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
        )
    problems: list[str] = []
    changes: dict[str, Any] = {}
    for name in WRITABLE:
        if name not in body:
            if not partial:
                problems.append(f"{name}: This field is required.")
            continue
        if body[name] is None and v3 and name == "webhook_url":
            changes[name] = ""  # v3 clears the URL with null; kept as v2 shows it
            continue
        if body[name] is None:
            problems.append(f"{name}: This field may not be null.")
            continue
        problem, cleaned = _clean_field(name, body[name])
        if problem:
            problems.append(f"{name}: {problem}")
        else:
            changes[name] = cleaned
    unknown = [c for c in changes.get("service_point_carriers", ()) if c not in OFFERED_CARRIERS]
    if unknown and not problems:
        raise CarrierNotOffered(unknown)
    merged = {**current, **changes}
    if not problems:
        if merged.get("service_point_enabled") and not merged.get("service_point_carriers"):
            problems.append(
                "service_point_carriers: At least one carrier must be provided "
                "if the service point delivery is enabled."
            )
        if merged.get("webhook_active") and not merged.get("webhook_url"):
            # Sendcloud's v3 wording, without a full stop.
            problems.append("webhook_url: Webhook URL required when enable webhook is set to true")
    if problems:
        raise ValidationFailed({"settings": problems})
    return changes


def _clean_field(name: str, value: Any) -> tuple[str | None, Any]:
    if name in ("service_point_enabled", "webhook_active"):
        return (None, value) if isinstance(value, bool) else ("Must be a valid boolean.", None)
    if name == "service_point_carriers":
        if not isinstance(value, list):
            return f'Expected a list of items but got type "{type(value).__name__}".', None
        if not all(isinstance(item, str) and item.strip() for item in value):
            return "Not a valid string.", None
        return None, list(dict.fromkeys(item.strip() for item in value))
    # shop_url, webhook_url: DRF URLField (min length 1)
    if not isinstance(value, str):
        return "Not a valid string.", None
    if not value.strip():
        return "This field may not be blank.", None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "Enter a valid URL.", None
    return None, value.strip()
