"""The webhooks the sandbox sends: payloads shaped like live Sendcloud's (else like its docs),
serialised and signed like Sendcloud's; signing is not shared with `receivers.signature`, so
the tests catch a mistake in either."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from bootstrap.sandbox.errors import TriggerFailed
from bootstrap.sandbox.integrations import as_integration
from bootstrap.sandbox.tables import now_ms

ACTIONS = (
    "parcel_status_changed",
    "return_created",
    "return_delivered",
    "integration_credentials",
    "integration_updated",
    "integration_deleted",
    "integration_connected",
    "test_webhook",
)
INTEGRATION_ACTIONS = ("integration_updated", "integration_deleted", "integration_connected")
# A parcel_status_changed from live Sendcloud (published in a shop's code; personal data
# redacted): the sandbox sends its key order, dates, nulls and carrier with its own values.
LIVE_CAPTURE = Path(__file__).parent / "bodies" / "parcel_status_changed.json"
# Non-ASCII on purpose: the body escapes it as \uXXXX, and receivers must verify the raw bytes.
DEFAULT_PARCEL_NAME = "Zoë Müller"


def serialise(payload: Any) -> str:
    """Python's json.dumps defaults: ", " and ": " separators, non-ASCII as \\uXXXX."""
    return json.dumps(payload)


def sign(body: bytes, key: str) -> str:
    """Sendcloud-Signature: hex HMAC-SHA256 of the exact body bytes."""
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def integration_event(
    action: str, integration: dict[str, Any], timestamp: int | None = None
) -> dict[str, Any]:
    """integration_updated / _deleted / _connected: the full object with v2 field names."""
    return {
        "action": action,
        "timestamp": now_ms() if timestamp is None else timestamp,
        "integration": as_integration(integration),
    }


@cache
def _live_parcel() -> dict[str, Any]:
    return dict(json.loads(LIVE_CAPTURE.read_text(encoding="utf-8"))["parcel"])


def parcel_status_changed(
    *,
    parcel_id: int = 1,
    status_id: int = 1000,
    status_message: str = "Ready to send",
    timestamp: int | None = None,
    carrier_timestamp: int | None = None,
    tracking_number: str = "3SYZXG132912330",
    name: str = DEFAULT_PARCEL_NAME,
) -> dict[str, Any]:
    """A parcel of the integration changed status: the live capture, with these values."""
    ts = now_ms() if timestamp is None else timestamp
    # Live parcel dates are dd-mm-yyyy without a zone, in UTC.
    date = datetime.fromtimestamp(ts / 1000, UTC).strftime("%d-%m-%Y %H:%M:%S")
    parcel = {
        **_live_parcel(),
        "id": parcel_id,
        "date_created": date,
        "name": name,
        "status": {"id": status_id, "message": status_message},
        "tracking_number": tracking_number,
        "order_number": f"ORD{parcel_id:05d}",
        "external_order_id": f"SANDBOX{parcel_id}",
        "date_updated": date,
    }
    return {
        "action": "parcel_status_changed",
        "parcel": parcel,
        "timestamp": ts,
        # The carrier's own time of the change: 35 ms before `timestamp` in the capture.
        "carrier_status_change_timestamp": ts - 35
        if carrier_timestamp is None
        else carrier_timestamp,
    }


def return_created(*, return_id: int = 1, timestamp: int | None = None) -> dict[str, Any]:
    """A return was created through the API or the Return Portal (payload under `data`)."""
    return {
        "action": "return_created",
        "timestamp": now_ms() if timestamp is None else timestamp,
        "data": {
            "id": return_id,
            "brand_id": 1,
            "order_number": f"ORD{return_id:05d}",
            "return_reason_id": 3,
            "return_address_id": 1,
            "paid_return": False,
            "delivery_choice": "drop_off_point",
            "refund_type": "money",
            "items": [
                {
                    "item_id": "sku-1",
                    "description": "Wollen trui, maat M",
                    "quantity": 1,
                    "sku": "TRUI-M",
                    "hs_code": "6110",
                    "return_reason_id": 3,
                }
            ],
        },
    }


def return_delivered(*, parcel_id: int = 1, timestamp: int | None = None) -> dict[str, Any]:
    """A return arrived back. No body was ever published: these are the keys of `refund` that
    Sendcloud's official Odoo connector reads, typed like the Return object of GET /returns."""
    ts = now_ms() if timestamp is None else timestamp
    return {
        "action": "return_delivered",
        "timestamp": ts,
        "refund": {
            "outgoing_parcel": parcel_id,
            "incoming_parcel": parcel_id + 1,
            "created_at": datetime.fromtimestamp(ts / 1000, UTC).isoformat(),
            "reason": "Item does not fit",
            "status": "delivered",
            "message": "",
            "total_refund": "32.50",
        },
    }


def integration_credentials(
    integration: dict[str, Any], keys: tuple[str, str], *, timestamp: int | None = None
) -> dict[str, Any]:
    """The integration's API keys (a secret), in the connector fixture's order. Sendcloud sends new
    ones, the sandbox its current ones: its other webhooks stay verifiable, and connectors that
    verify this one with the body's `secret_key` (Onestein's Odoo) agree with the signature."""
    public_key, secret_key = keys
    return {
        "action": "integration_credentials",
        "timestamp": now_ms() if timestamp is None else timestamp,
        "public_key": public_key,
        "secret_key": secret_key,
        "integration_id": integration["id"],
    }


def webhook_test(*, timestamp: int | None = None) -> dict[str, Any]:
    """The panel's "Test API webhook" button (payload unconfirmed by Sendcloud: kept minimal)."""
    return {"action": "test_webhook", "timestamp": now_ms() if timestamp is None else timestamp}


def payload(
    action: str, integration: dict[str, Any], keys: tuple[str, str], options: dict[str, Any]
) -> dict[str, Any]:
    """The payload of one triggered webhook; TriggerFailed for an unknown action or option."""
    makers: dict[str, Callable[..., dict[str, Any]]] = {
        "parcel_status_changed": parcel_status_changed,
        "return_created": return_created,
        "return_delivered": return_delivered,
        "test_webhook": webhook_test,
    }
    try:
        if action in INTEGRATION_ACTIONS:
            return integration_event(action, integration, **options)
        if action == "integration_credentials":
            return integration_credentials(integration, keys, **options)
        if action in makers:
            return makers[action](**options)
    except TypeError as exc:
        raise TriggerFailed(f"{action} does not take those options ({exc})") from exc
    raise TriggerFailed(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
