"""The webhooks the sandbox sends: realistic payloads (shapes from sendcloud.dev), and how
Sendcloud serialises and signs a body.

Signing is deliberately not shared with `receivers.signature`: two independent
implementations let the tests catch a mistake in either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any

from bootstrap.sandbox.errors import TriggerFailed
from bootstrap.sandbox.integrations import as_integration
from bootstrap.sandbox.tables import now_ms

ACTIONS = (
    "parcel_status_changed",
    "return_created",
    "integration_updated",
    "integration_deleted",
    "integration_connected",
    "test_webhook",
)
INTEGRATION_ACTIONS = ("integration_updated", "integration_deleted", "integration_connected")
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


def parcel_status_changed(
    *,
    parcel_id: int = 1,
    status_id: int = 1000,
    status_message: str = "Ready to send",
    timestamp: int | None = None,
    tracking_number: str = "3SYZXG132912330",
    name: str = DEFAULT_PARCEL_NAME,
) -> dict[str, Any]:
    """A parcel of the integration changed status (the v2 example, with these values)."""
    ts = now_ms() if timestamp is None else timestamp
    return {
        "action": "parcel_status_changed",
        "timestamp": ts,
        "carrier_status_change_timestamp": ts,
        "parcel": {
            "id": parcel_id,
            "name": name,
            "company_name": "Sendcloud",
            "address": "Stadhuisplein 10",
            "address_divided": {"street": "Stadhuisplein", "house_number": 10},
            "city": "Eindhoven",
            "postal_code": "5611 EM",
            "telephone": "612345678",
            "email": "contact@sendcloud.com",
            "date_created": "2019-02-03T06:48:07",
            "tracking_number": tracking_number,
            "tracking_url": f"https://tracking.eu-central-1-0.sendcloud.sc/forward?carrier=postnl&code={tracking_number}",
            "weight": "2.000",
            "label": {
                "normal_printer": [
                    f"https://panel.sendcloud.sc/api/v2/label/normal_printer/{parcel_id}?start_from=0"
                ],
                "label_printer": f"https://panel.sendcloud.sc/api/v2/label/label_printer/{parcel_id}",
            },
            "customs_declaration": {},
            "status": {"id": status_id, "message": status_message},
            "data": {},
            "country": {"iso_3": "NLD", "iso_2": "NL", "name": "Netherlands"},
            "shipment": {"id": 8, "name": "PostNL Standard 0-23kg"},
            "carrier": {"code": "postnl"},
            "order_number": f"ORD{parcel_id:05d}",
            "shipment_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-parcel-{parcel_id}")),
            "external_order_id": f"SANDBOX{parcel_id}",
            "external_shipment_id": f"SANDBOX{parcel_id}-1",
        },
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


def webhook_test(*, timestamp: int | None = None) -> dict[str, Any]:
    """The panel's "Test API webhook" button (payload unconfirmed by Sendcloud: kept minimal)."""
    return {"action": "test_webhook", "timestamp": now_ms() if timestamp is None else timestamp}


def payload(action: str, integration: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The payload of one triggered webhook; TriggerFailed for an unknown action or option."""
    makers: dict[str, Callable[..., dict[str, Any]]] = {
        "parcel_status_changed": parcel_status_changed,
        "return_created": return_created,
        "test_webhook": webhook_test,
    }
    try:
        if action in INTEGRATION_ACTIONS:
            return integration_event(action, integration, **options)
        if action in makers:
            return makers[action](**options)
    except TypeError as exc:
        raise TriggerFailed(f"{action} does not take those options ({exc})") from exc
    raise TriggerFailed(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
