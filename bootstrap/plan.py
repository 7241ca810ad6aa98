"""What the integration should look like, how that differs from what it is, and local checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bootstrap.schemas import OWNED_FIELDS, Integration
from bootstrap.settings import BootstrapSettings, is_loopback_host
from receivers.webhook import PATH as WEBHOOK_PATH


@dataclass(frozen=True)
class Desired:
    """The owned settings we want at Sendcloud (webhook_active is always true)."""

    webhook_url: str
    service_point_enabled: bool
    service_point_carriers: tuple[str, ...]

    def fields(self) -> dict[str, Any]:
        """The PATCH body: every owned field we manage."""
        wanted: dict[str, Any] = {
            "webhook_url": self.webhook_url,
            "webhook_active": True,
            "service_point_enabled": self.service_point_enabled,
        }
        # Service points off and no carriers named: leave the merchant's carrier list alone
        # rather than wiping it with an empty list.
        if self.service_point_enabled or self.service_point_carriers:
            wanted["service_point_carriers"] = list(self.service_point_carriers)
        return wanted


@dataclass(frozen=True)
class FieldChange:
    """One owned field whose current value differs from the desired one."""

    name: str
    current: Any
    desired: Any

    def to_json(self) -> dict[str, Any]:
        """JSON form for pages and scripts."""
        return {"name": self.name, "current": self.current, "desired": self.desired}


@dataclass(frozen=True)
class Plan:
    """Current vs desired owned settings of one integration."""

    integration_id: int
    shop_name: str | None
    current: dict[str, Any]
    desired: Desired
    changes: list[FieldChange] = field(default_factory=list)
    nothing_to_do: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON form for pages and scripts."""
        return {
            "integration_id": self.integration_id,
            "shop_name": self.shop_name,
            "current": self.current,
            "desired": self.desired.fields(),
            "changes": [c.to_json() for c in self.changes],
            "nothing_to_do": self.nothing_to_do,
        }


def desired_for(
    base_url: str,
    settings: BootstrapSettings,
    carriers: Iterable[str] | None = None,
    enabled: bool | None = None,
) -> Desired:
    """The desired settings for a service reachable at `base_url` (no trailing slash needed)."""
    return Desired(
        webhook_url=base_url.rstrip("/") + WEBHOOK_PATH,
        service_point_enabled=settings.service_point_enabled if enabled is None else enabled,
        service_point_carriers=tuple(
            dict.fromkeys(
                c.strip().lower()
                for c in (settings.service_point_carriers if carriers is None else carriers)
                if c.strip()
            )
        ),
    )


def same_value(name: str, current: Any, desired: Any) -> bool:
    """Equality of one owned field; carriers compare as sets (Sendcloud may reorder them)."""
    if name == "service_point_carriers":
        return set(current or ()) == set(desired or ())
    return bool(current == desired)


def differences(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[FieldChange]:
    """The owned fields in `wanted` whose value in `current` differs."""
    return [
        FieldChange(name, current.get(name), wanted[name])
        for name in OWNED_FIELDS
        if name in wanted and not same_value(name, current.get(name), wanted[name])
    ]


def make_plan(integration: Integration, desired: Desired) -> Plan:
    """Compare the live integration with `desired`, owned fields only."""
    current = integration.owned()
    changes = differences(current, desired.fields())
    return Plan(
        integration_id=integration.id,
        shop_name=integration.shop_name,
        current=current,
        desired=desired,
        changes=changes,
        nothing_to_do=not changes,
    )


def desired_problems(desired: Desired) -> list[str]:
    """What Sendcloud would reject or what cannot work, in plain words (empty when fine)."""
    problems: list[str] = []
    if desired.service_point_enabled and not desired.service_point_carriers:
        problems.append(
            "service points are enabled but no carrier is given: Sendcloud needs at least one "
            "carrier code (e.g. ups, dhl), or disable service points"
        )
    parts = urlsplit(desired.webhook_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"the webhook URL {desired.webhook_url!r} is not an absolute URL")
    elif parts.scheme == "http" and not is_loopback_host(parts.hostname):
        problems.append(
            f"the webhook URL {desired.webhook_url!r} must use https:// (plain http only for "
            "loopback hosts, for local tests); Sendcloud must reach it over TLS"
        )
    elif parts.username or parts.password:
        problems.append("the webhook URL must not carry a user name or password")
    return problems


@dataclass(frozen=True)
class DriftReport:
    """Live settings at Sendcloud compared with the desired ones."""

    integration_id: int
    checked_at: datetime
    deleted: bool
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        """True when anything differs or the integration is gone."""
        return self.deleted or bool(self.changes)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "integration_id": self.integration_id,
            "checked_at": self.checked_at.isoformat(),
            "deleted": self.deleted,
            "drifted": self.drifted,
            "changes": [c.to_json() for c in self.changes],
        }
