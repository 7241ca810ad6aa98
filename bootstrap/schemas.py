"""marshmallow schemas of Sendcloud's v2 Integration, IntegrationUpdate and error envelope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

# The only fields this service ever writes; everything else belongs to the merchant.
OWNED_FIELDS = ("webhook_url", "webhook_active", "service_point_enabled", "service_point_carriers")


@dataclass(frozen=True)
class Integration:
    """The part of a Sendcloud integration the bootstrap reads."""

    id: int
    shop_name: str | None
    system: str | None
    webhook_url: str | None
    webhook_active: bool
    service_point_enabled: bool
    service_point_carriers: tuple[str, ...]

    def owned(self) -> dict[str, Any]:
        """The owned fields as a plain JSON-able dict."""
        return {
            "webhook_url": self.webhook_url,
            "webhook_active": self.webhook_active,
            "service_point_enabled": self.service_point_enabled,
            "service_point_carriers": list(self.service_point_carriers),
        }


class _OwnedFieldsMixin(Schema):
    # Sendcloud documents both fields as nullable in the 2026 spec; absent means "unknown".
    webhook_url = fields.Str(allow_none=True, load_default=None)
    webhook_active = fields.Bool(allow_none=True, load_default=False)
    service_point_enabled = fields.Bool(allow_none=True, load_default=False)
    service_point_carriers = fields.List(fields.Str(), allow_none=True, load_default=list)


class IntegrationSchema(_OwnedFieldsMixin):
    """GET /integrations/{id}: Sendcloud's Integration object (unknown fields ignored)."""

    class Meta:
        unknown = EXCLUDE

    id = fields.Int(required=True, validate=validate.Range(min=1))
    shop_name = fields.Str(allow_none=True, load_default=None)
    system = fields.Str(allow_none=True, load_default=None)


class IntegrationUpdateRequestSchema(Schema):
    """PATCH body: only the owned fields, nothing else can be dumped through it."""

    webhook_url = fields.Str()
    webhook_active = fields.Bool()
    service_point_enabled = fields.Bool()
    service_point_carriers = fields.List(fields.Str())


class IntegrationUpdateResponseSchema(_OwnedFieldsMixin):
    """PATCH 200 answer: IntegrationUpdate (it does not echo id or system)."""

    class Meta:
        unknown = EXCLUDE

    shop_name = fields.Str(allow_none=True, load_default=None)


class _ErrorBodySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.Raw(load_default=None)
    request = fields.Raw(load_default=None)
    # Raw, not Str: Sendcloud's 400 message is a stringified dict, sometimes maybe a real one.
    message = fields.Raw(load_default=None)


class ErrorEnvelopeSchema(Schema):
    """Sendcloud v2 errors: {"error": {"code", "request", "message"}}."""

    class Meta:
        unknown = EXCLUDE

    error = fields.Nested(_ErrorBodySchema, required=True)


def load_integration(body: Any) -> Integration:
    """Parse a GET answer; raise marshmallow.ValidationError when it is not an Integration."""
    data = IntegrationSchema().load(body if isinstance(body, dict) else {"_": body})
    return Integration(
        id=data["id"],
        shop_name=data["shop_name"],
        system=data["system"],
        webhook_url=data["webhook_url"],
        webhook_active=bool(data["webhook_active"]),
        service_point_enabled=bool(data["service_point_enabled"]),
        service_point_carriers=tuple(data["service_point_carriers"] or ()),
    )


def load_update_response(body: Any) -> dict[str, Any]:
    """Parse a PATCH answer into the owned fields it reports."""
    if not isinstance(body, dict):
        raise ValidationError("expected a JSON object")
    data = IntegrationUpdateResponseSchema().load(body)
    reported = {name: data[name] for name in OWNED_FIELDS if name in body}
    if "service_point_carriers" in reported:
        reported["service_point_carriers"] = list(reported["service_point_carriers"] or [])
    return reported


def dump_update_request(fields_to_set: dict[str, Any]) -> dict[str, Any]:
    """The PATCH body for `fields_to_set`; refuses anything but the owned fields."""
    extra = set(fields_to_set) - set(OWNED_FIELDS)
    if extra:
        raise ValueError(f"refusing to write fields this service does not own: {sorted(extra)}")
    errors = IntegrationUpdateRequestSchema().validate(fields_to_set)
    if errors:
        raise ValueError(f"invalid PATCH body: {errors}")
    dumped: dict[str, Any] = IntegrationUpdateRequestSchema().dump(fields_to_set)
    return dumped


def error_message(body: Any) -> str | None:
    """Sendcloud's own error text from a v2 envelope (or v3 / token-endpoint shapes), as text."""
    if not isinstance(body, dict):
        return None
    try:
        message = ErrorEnvelopeSchema().load(body)["error"]["message"]
    except ValidationError:
        message = None
    if message is None and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        if isinstance(first, dict):
            message = first.get("detail") or first.get("title")
    if message is None and "error" in body and isinstance(body["error"], str):
        message = body.get("error_description") or body["error"]
    if message is None:
        return None
    # Shown as text, never parsed: the 400 message is a Python-dict-like string.
    text = message if isinstance(message, str) else str(message)
    return text.strip()[:500] or None
