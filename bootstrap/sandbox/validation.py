"""Sendcloud's validation of an IntegrationUpdate (PATCH/PUT body), worded like DRF does."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bootstrap.sandbox.errors import ValidationFailed

# The writable fields of IntegrationUpdate; everything else in a body is ignored (read-only).
WRITABLE = (
    "shop_url",
    "service_point_enabled",
    "service_point_carriers",
    "webhook_active",
    "webhook_url",
)


def clean_update(body: Any, current: dict[str, Any] | None, partial: bool) -> dict[str, Any]:
    """Return the writable changes in `body`, or raise ValidationFailed listing every problem."""
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
        value = body[name]
        if value is None:
            problems.append(f"{name}: This field may not be null.")
            continue
        problem, cleaned = _clean_field(name, value)
        if problem:
            problems.append(f"{name}: {problem}")
        else:
            changes[name] = cleaned
    if not problems:
        merged = {**(current or {}), **changes}
        if merged.get("service_point_enabled") and not merged.get("service_point_carriers"):
            problems.append(
                "service_point_carriers: At least one carrier must be provided "
                "if the service point delivery is enabled."
            )
        if merged.get("webhook_active") and not merged.get("webhook_url"):
            problems.append("webhook_url: Webhook URL required when enable webhook is set to true.")
    if problems:
        raise ValidationFailed({"settings": problems})
    return changes


def _clean_field(name: str, value: Any) -> tuple[str | None, Any]:
    if name in ("service_point_enabled", "webhook_active"):
        if isinstance(value, bool):
            return None, value
        return "Must be a valid boolean.", None
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
