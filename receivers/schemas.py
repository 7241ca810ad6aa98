"""Marshmallow schemas of Sendcloud's webhook payloads and their reduction to what we apply."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

# Anything wider does not fit a BIGINT column; such a delivery is stored as unrecognised.
_INT64 = validate.Range(min=-(2**63), max=2**63 - 1)
MAX_ACTION_LENGTH = 100

INTEGRATION_ACTIONS = ("integration_connected", "integration_updated", "integration_deleted")
# Carries the integration's new API keys: its `secret_key` is never stored (see `storable`).
CREDENTIALS_ACTION = "integration_credentials"
REDACTED = "[redacted]"


def _int(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=_INT64, **kwargs)


class Millis(fields.Integer):
    """Milliseconds since the epoch as Sendcloud sends them: an integer, an integral float or a
    string of digits. A bool, a fraction or any other text is invalid."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, validate=_INT64, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        # The documented hook of a custom field; the strict integer check follows.
        if (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and value.isascii() and value.isdigit()
        ):
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


_TIMESTAMP = Millis()


class _Lenient(Schema):
    class Meta:
        # Sendcloud adds fields over time; only the fields we use are validated.
        unknown = EXCLUDE


def _any() -> fields.Raw:
    # Read if it is text (see `_text`), otherwise taken as absent: real bodies carry false,
    # null or "" in such fields, and no odd value there is worth losing an update for.
    return fields.Raw(allow_none=True, load_default=None)


class StatusSchema(_Lenient):
    id = _int(required=True)
    message = _any()


class ParcelSchema(_Lenient):
    id = _int(required=True)
    status = fields.Nested(StatusSchema, required=True)
    tracking_number = _any()


class _Event(_Lenient):
    action = fields.String(required=True)
    timestamp = Millis(required=True)


class ParcelStatusChangedSchema(_Event):
    carrier_status_change_timestamp = Millis(allow_none=True, load_default=None)
    parcel = fields.Nested(ParcelSchema, required=True)

    @post_load
    def state(self, data: dict[str, Any], **_: Any) -> tuple[str, dict[str, Any]]:
        """The parcel's new state, by column of `parcel_states`."""
        parcel = data["parcel"]
        return "parcel", {
            "parcel_id": parcel["id"],
            "status_id": parcel["status"]["id"],
            "status_message": _text(parcel["status"]["message"]),
            "tracking_number": _text(parcel["tracking_number"]),
            "carrier_timestamp": data["carrier_status_change_timestamp"],
        }


class IntegrationSchema(_Lenient):
    """The v2 integration object (the v3 webhook pages use the same names): the fields we read."""

    id = _int(required=True)
    service_point_enabled = fields.Boolean(allow_none=True, load_default=None)
    service_point_carriers = fields.List(fields.String(), allow_none=True, load_default=None)
    webhook_active = fields.Boolean(allow_none=True, load_default=None)
    webhook_url = _any()  # "", false and null all mean none


class IntegrationEventSchema(_Event):
    # Optional in Sendcloud's schema: without it there is nothing to apply.
    integration = fields.Nested(IntegrationSchema, load_default=None)

    @post_load
    def state(self, data: dict[str, Any], **_: Any) -> tuple[str, dict[str, Any]] | None:
        """The integration's settings, by column of `integration_states`."""
        found = data["integration"]
        if found is None:
            return None
        carriers = [_text(c) or "" for c in found["service_point_carriers"] or ()]
        return "integration", {
            "integration_id": found["id"],
            "deleted": data["action"] == "integration_deleted",
            "webhook_url": _text(found["webhook_url"]) or None,
            "webhook_active": found["webhook_active"],
            "service_point_enabled": found["service_point_enabled"],
            "service_point_carriers": json.dumps(carriers),
        }


class ReturnCreatedSchema(_Event):
    """A return; its payload sits under `data`, not `parcel`."""

    data = fields.Nested(
        _Lenient.from_dict({"id": fields.Raw(required=True, allow_none=False)}), required=True
    )


class TestDeliverySchema(_Lenient):
    action = fields.String(required=True)
    timestamp = Millis(allow_none=True, load_default=None)


class CredentialsSchema(TestDeliverySchema):
    """New API keys for an integration: recognised, nothing to apply."""

    integration_id = _int(required=True)

    @post_load
    def state(self, data: dict[str, Any], **_: Any) -> tuple[None, dict[str, Any]]:
        """No state to update; the integration it is about."""
        return None, {"integration_id": data["integration_id"]}


# Built once: building a schema costs ~5x a load.
_SCHEMAS: dict[str, Schema] = {
    "parcel_status_changed": ParcelStatusChangedSchema(),
    "return_created": ReturnCreatedSchema(),
    "return_delivered": _Event(),  # no body published: only what every event has is read
    CREDENTIALS_ACTION: CredentialsSchema(),
    **dict.fromkeys(INTEGRATION_ACTIONS, IntegrationEventSchema()),
    **dict.fromkeys(("test_webhook", "bootstrap_preflight"), TestDeliverySchema()),
}


@dataclass(frozen=True)
class Classified:
    """What a verified delivery is and what, if anything, it asks us to apply."""

    action: str
    event_timestamp: int | None
    recognised: bool
    kind: str | None = None  # the state it updates: "parcel" or "integration"
    state: dict[str, Any] = field(default_factory=dict)  # its new values, by column

    @property
    def parcel_id(self) -> int | None:
        """The parcel this event is about, if any."""
        return self.state.get("parcel_id")

    @property
    def integration_id(self) -> int | None:
        """The integration this event is about, if any."""
        return self.state.get("integration_id")


def _text(raw: Any) -> str | None:
    # A signed delivery must never fail to store for its text: PostgreSQL text cannot hold
    # NUL, and JSON's lone surrogates ("\ud800") are not encodable as UTF-8 (they become "?").
    if not isinstance(raw, str):
        return None
    value = raw.replace("\x00", "")
    try:
        value.encode()
    except UnicodeEncodeError:
        value = value.encode(errors="replace").decode()
    return value


def classify_body(body: bytes) -> tuple[Any, Classified]:
    """The parsed JSON of a raw body (None if it is not JSON), and what the delivery is."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None, Classified("(not json)", None, recognised=False)  # stored, unrecognised
    return payload, classify(payload)


def classify(payload: Any) -> Classified:
    """Validate a parsed payload against its action's schema; unknown shapes are unrecognised."""
    if not isinstance(payload, dict) or not isinstance(payload.get("action"), str):
        return Classified(action="(none)", event_timestamp=None, recognised=False)
    action = (_text(payload["action"]) or "")[:MAX_ACTION_LENGTH] or "(none)"
    try:  # kept for the listing even when the rest of the shape is unrecognised
        timestamp: int | None = _TIMESTAMP.deserialize(payload.get("timestamp"))
    except ValidationError:
        timestamp = None
    schema = _SCHEMAS.get(action)
    if schema is None:
        return Classified(action, timestamp, recognised=False)
    try:
        loaded = schema.load(payload)
    except ValidationError:
        return Classified(action, timestamp, recognised=False)
    # The parcel and integration schemas load the state to apply (their post_load).
    kind, state = loaded if isinstance(loaded, tuple) else (None, {})
    return Classified(action, timestamp, True, kind, state)


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k == "secret_key" else _redacted(v) for k, v in value.items()}
    return [_redacted(v) for v in value] if isinstance(value, list) else value


def storable(body: bytes, payload: Any, c: Classified) -> tuple[bytes, Any]:
    """The body and payload to store and show: new API keys lose every `secret_key` value."""
    if c.action != CREDENTIALS_ACTION or not isinstance(payload, dict | list):
        return body, payload
    payload = _redacted(payload)
    return json.dumps(payload).encode(), payload
