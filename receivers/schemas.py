"""Marshmallow schemas of Sendcloud's webhook payloads and their reduction to what we apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

# Anything wider does not fit a BIGINT column; such a delivery is stored as unrecognised.
_INT64 = validate.Range(min=-(2**63), max=2**63 - 1)
MAX_ACTION_LENGTH = 100

INTEGRATION_ACTIONS = frozenset(
    {"integration_connected", "integration_updated", "integration_deleted"}
)
TEST_ACTIONS = frozenset({"test_webhook", "bootstrap_preflight"})


def _int(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=_INT64, **kwargs)


class _Lenient(Schema):
    class Meta:
        # Sendcloud adds fields over time; only the fields we use are validated.
        unknown = EXCLUDE


class StatusSchema(_Lenient):
    id = _int(required=True)
    message = fields.String(allow_none=True, load_default=None)


class ParcelSchema(_Lenient):
    id = _int(required=True)
    status = fields.Nested(StatusSchema, required=True)
    tracking_number = fields.String(allow_none=True, load_default=None)


class ParcelStatusChangedSchema(_Lenient):
    action = fields.String(required=True)
    timestamp = _int(required=True)
    carrier_status_change_timestamp = _int(allow_none=True, load_default=None)
    parcel = fields.Nested(ParcelSchema, required=True)


class IntegrationSchema(_Lenient):
    """The v2 integration object (the v3 webhook pages use the same field names)."""

    id = _int(required=True)
    shop_name = fields.String(allow_none=True)
    shop_url = fields.String(allow_none=True)
    system = fields.String(allow_none=True)
    # Sendcloud's own examples carry these with and without a trailing Z, or null.
    failing_since = fields.AwareDateTime(default_timezone=UTC, allow_none=True)
    last_fetch = fields.AwareDateTime(default_timezone=UTC, allow_none=True)
    last_updated_at = fields.AwareDateTime(default_timezone=UTC, allow_none=True)
    service_point_enabled = fields.Boolean(allow_none=True, load_default=None)
    service_point_carriers = fields.List(fields.String(), allow_none=True, load_default=None)
    webhook_active = fields.Boolean(allow_none=True, load_default=None)
    webhook_url = fields.String(allow_none=True, load_default=None)


class IntegrationEventSchema(_Lenient):
    action = fields.String(required=True)
    timestamp = _int(required=True)
    # Optional in Sendcloud's schema: without it there is nothing to apply.
    integration = fields.Nested(IntegrationSchema, load_default=None)


class ReturnDataSchema(_Lenient):
    id = fields.Raw(required=True, allow_none=False)


class ReturnCreatedSchema(_Lenient):
    """A return; its payload sits under `data`, not `parcel`."""

    action = fields.String(required=True)
    timestamp = _int(required=True)
    data = fields.Nested(ReturnDataSchema, required=True)


class TestDeliverySchema(_Lenient):
    action = fields.String(required=True)
    timestamp = _int(allow_none=True, load_default=None)


# Built once: building a schema costs ~5x a load.
_SCHEMAS: dict[str, Schema] = {
    "parcel_status_changed": ParcelStatusChangedSchema(),
    "return_created": ReturnCreatedSchema(),
    **{action: IntegrationEventSchema() for action in INTEGRATION_ACTIONS},
    **{action: TestDeliverySchema() for action in TEST_ACTIONS},
}


@dataclass(frozen=True)
class ParcelUpdate:
    """A parcel's new status, applied if it is the newest."""

    parcel_id: int
    status_id: int
    status_message: str | None
    tracking_number: str | None
    carrier_timestamp: int | None


@dataclass(frozen=True)
class IntegrationUpdate:
    """An integration's settings as Sendcloud reported them."""

    integration_id: int
    deleted: bool
    webhook_url: str | None
    webhook_active: bool | None
    service_point_enabled: bool | None
    service_point_carriers: tuple[str, ...]


@dataclass(frozen=True)
class Classified:
    """What a verified delivery is and what, if anything, it asks us to apply."""

    action: str
    event_timestamp: int | None
    recognised: bool
    parcel: ParcelUpdate | None = None
    integration: IntegrationUpdate | None = None

    @property
    def parcel_id(self) -> int | None:
        """The parcel this event is about, if any."""
        return self.parcel.parcel_id if self.parcel else None

    @property
    def integration_id(self) -> int | None:
        """The integration this event is about, if any."""
        return self.integration.integration_id if self.integration else None


def _text(value: str | None) -> str | None:
    # A signed delivery must never fail to store for its text: PostgreSQL text cannot hold
    # NUL, and JSON's lone surrogates ("\ud800") are not encodable as UTF-8 (they become "?").
    if value is None:
        return None
    value = value.replace("\x00", "")
    try:
        value.encode()
    except UnicodeEncodeError:
        value = value.encode(errors="replace").decode()
    return value


def classify(payload: Any) -> Classified:
    """Validate a parsed payload against its action's schema; unknown shapes are unrecognised."""
    if not isinstance(payload, dict) or not isinstance(payload.get("action"), str):
        return Classified(action="(none)", event_timestamp=None, recognised=False)
    action = (_text(payload["action"]) or "")[:MAX_ACTION_LENGTH] or "(none)"
    raw_ts = payload.get("timestamp")
    # Kept for the listing even when the shape is unrecognised, if it fits a BIGINT.
    timestamp = (
        raw_ts
        if type(raw_ts) is int and -(2**63) <= raw_ts < 2**63  # bool is not a timestamp
        else None
    )
    schema = _SCHEMAS.get(action)
    if schema is None:
        return Classified(action=action, event_timestamp=timestamp, recognised=False)
    try:
        loaded: dict[str, Any] = schema.load(payload)
    except ValidationError:
        return Classified(action=action, event_timestamp=timestamp, recognised=False)
    if action == "parcel_status_changed":
        parcel = loaded["parcel"]
        update = ParcelUpdate(
            parcel_id=parcel["id"],
            status_id=parcel["status"]["id"],
            status_message=_text(parcel["status"]["message"]),
            tracking_number=_text(parcel["tracking_number"]),
            carrier_timestamp=loaded["carrier_status_change_timestamp"],
        )
        return Classified(action, loaded["timestamp"], True, parcel=update)
    if action in INTEGRATION_ACTIONS and loaded["integration"] is not None:
        found = loaded["integration"]
        integration = IntegrationUpdate(
            integration_id=found["id"],
            deleted=action == "integration_deleted",
            webhook_url=_text(found["webhook_url"]),
            webhook_active=found["webhook_active"],
            service_point_enabled=found["service_point_enabled"],
            service_point_carriers=tuple(
                _text(c) or "" for c in (found["service_point_carriers"] or ())
            ),
        )
        return Classified(action, loaded["timestamp"], True, integration=integration)
    return Classified(action, loaded["timestamp"], True)
