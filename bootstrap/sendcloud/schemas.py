"""marshmallow schemas of Sendcloud's Integration (v2, and v3 inside `data`), its PATCH answer,
and the error envelopes (v2, v3's JSON:API, the token endpoint's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from bootstrap.owned import OwnedSettings


@dataclass(frozen=True)
class Integration:
    """The part of a Sendcloud integration the bootstrap reads."""

    id: int
    shop_name: str | None
    owned: OwnedSettings


class _OwnedFields(Schema):
    class Meta:
        unknown = EXCLUDE

    # Sendcloud documents both fields as nullable in the 2026 spec; absent means "unknown".
    webhook_url = fields.Str(allow_none=True, load_default=None)
    webhook_active = fields.Bool(allow_none=True, load_default=False)
    service_point_enabled = fields.Bool(allow_none=True, load_default=False)
    service_point_carriers = fields.List(fields.Str(), allow_none=True, load_default=list)
    shop_name = fields.Str(allow_none=True, load_default=None)


class IntegrationSchema(_OwnedFields):
    """GET /integrations/{id}: Sendcloud's Integration object (unknown fields ignored)."""

    id = fields.Int(required=True, validate=validate.Range(min=1))


def _unwrapped(body: Any, v3: bool) -> Any:
    # v3 answers {"data": {...}}; its owned fields keep the v2 names (only others were renamed).
    return body.get("data") if v3 and isinstance(body, dict) else body


def load_integration(body: Any, v3: bool = False) -> Integration:
    """Parse a GET answer; raise marshmallow.ValidationError when it is not an Integration."""
    body = _unwrapped(body, v3)
    data = IntegrationSchema().load(body if isinstance(body, dict) else {"_": body})
    owned = OwnedSettings(
        # Sendcloud writes "no URL" as "" (live v2 answers) or null (v3, the 2026 schema).
        webhook_url=data["webhook_url"] or "",
        webhook_active=bool(data["webhook_active"]),
        service_point_enabled=bool(data["service_point_enabled"]),
        service_point_carriers=tuple(data["service_point_carriers"] or ()),
    )
    return Integration(id=data["id"], shop_name=data["shop_name"], owned=owned)


def load_update_response(body: Any, v3: bool = False) -> dict[str, Any]:
    """The owned fields a PATCH answer (IntegrationUpdate) reports; none in v3's bodiless 204."""
    if v3 and body is None:
        return {}
    body = _unwrapped(body, v3)
    if not isinstance(body, dict):
        raise ValidationError("expected a JSON object")
    data = _OwnedFields().load(body)
    reported = {name: value for name, value in data.items() if name in body}
    reported.pop("shop_name", None)
    if "service_point_carriers" in reported:
        reported["service_point_carriers"] = list(reported["service_point_carriers"] or [])
    return reported


def error_message(body: Any) -> str | None:
    """Sendcloud's own error text from a v2 envelope, v3's JSON:API `errors` (a list or one
    object; status a string or a number; title or detail may be missing) or a token error."""
    if not isinstance(body, dict):
        return None
    # v2: {"error": {"code", "request", "message"}}; the 400 message is a stringified dict.
    v2 = body.get("error")
    message = v2.get("message") if isinstance(v2, dict) else None
    errors = body.get("errors")
    errors = [errors] if isinstance(errors, dict) else errors
    if message is None and isinstance(errors, list):
        texts = [
            str(e.get("detail") or e.get("title") or e.get("code") or "")
            for e in errors
            if isinstance(e, dict)
        ]
        message = "; ".join(text for text in texts if text) or None
    if message is None and "error" in body and isinstance(body["error"], str):
        message = body.get("error_description") or body["error"]
    if message is None:
        return None
    # Shown as text, never parsed: the 400 message is a Python-dict-like string.
    text = message if isinstance(message, str) else str(message)
    return text.strip()[:500] or None
