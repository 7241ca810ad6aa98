"""Shared test helpers for the receiver: real-keys env, signed posts, payload builders."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from receivers.signature import sign

SECRET = "receiver-test-secret-0123456789"
PREVIOUS = "receiver-previous-secret-9876543210"
TOKEN = "receiver-test-operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def real_keys_env(database_url: str, **extra: str) -> dict[str, str]:
    """Real-keys mode (no sandbox) with a known webhook secret and operator token."""
    return {
        "DATABASE_URL": database_url,
        "SENDCLOUD_PUBLIC_KEY": "pk_receiver_test",
        "SENDCLOUD_SECRET_KEY": "sk_receiver_test_0123456789",
        "SENDCLOUD_WEBHOOK_SECRET": SECRET,
        "SENDCLOUD_INTEGRATION_ID": "7",
        "SERVICE_POINT_ENABLED": "false",
        "ONBOARDING_TOKEN": TOKEN,
        **extra,
    }


def encode(payload: Any) -> bytes:
    """Serialise like Sendcloud (Python json.dumps defaults)."""
    return json.dumps(payload).encode()


def post_signed(
    client: FlaskClient, body: bytes, key: str = SECRET, **headers: str
) -> TestResponse:
    """POST `body` to the receiver, signed with `key`."""
    return client.post(
        "/webhooks/sendcloud",
        data=body,
        headers={"Sendcloud-Signature": sign(body, key), "Content-Type": "application/json"}
        | headers,
    )


def parcel_event(
    parcel_id: int,
    timestamp: int,
    status_id: int,
    message: str = "status",
    carrier_ts: int | None = None,
    tracking: str = "3SYZXG1",
) -> dict[str, Any]:
    """A parcel_status_changed payload."""
    return {
        "action": "parcel_status_changed",
        "timestamp": timestamp,
        "carrier_status_change_timestamp": carrier_ts,
        "parcel": {
            "id": parcel_id,
            "tracking_number": tracking,
            "status": {"id": status_id, "message": message},
            "name": "Mr Bob",
        },
    }


def integration_event(
    action: str, timestamp: int, integration_id: int = 7, **fields: Any
) -> dict[str, Any]:
    """An integration_* payload (v2 field names)."""
    integration = {
        "id": integration_id,
        "shop_name": "API Integration",
        "system": "api",
        "failing_since": None,
        "last_fetch": "2019-02-03T06:48:07Z",
        "last_updated_at": "2019-02-03T06:48:07",
        "service_point_enabled": True,
        "service_point_carriers": ["dhl"],
        "webhook_active": True,
        "webhook_url": "https://shop.example.com/webhooks/sendcloud",
    }
    integration.update(fields)
    return {"action": action, "timestamp": timestamp, "integration": integration}


def stored(client: FlaskClient, **params: Any) -> list[dict[str, Any]]:
    """The stored deliveries as the operator API lists them."""
    response = client.get("/api/events", headers=AUTH, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    events: list[dict[str, Any]] = response.get_json()["events"]
    return events
