"""The four integration settings this service owns, as one frozen value: diff, PATCH, checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from bootstrap.settings import is_loopback_host
from receivers.webhook import PATH as WEBHOOK_PATH


def _owned(label: str) -> Any:
    # The page's words for a field live beside the field, so the names exist only here.
    return field(default=None, metadata={"label": label})


class FieldChange(NamedTuple):
    """One owned field whose current value differs from the desired one (JSON values)."""

    name: str
    current: Any
    desired: Any


@dataclass(frozen=True, eq=False)
class OwnedSettings:
    """The settings this service writes (the rest is the merchant's); None: unknown or not set."""

    webhook_url: str | None = _owned("Webhook URL")
    webhook_active: bool | None = _owned("Webhooks on")
    service_point_enabled: bool | None = _owned("Service points")
    service_point_carriers: tuple[str, ...] | None = _owned("Service-point carriers")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> OwnedSettings:
        """The owned fields of `data` (an API answer, an event, a stored row); others ignored."""
        found = {f.name: data.get(f.name) for f in fields(cls)}
        carriers = found["service_point_carriers"]
        found["service_point_carriers"] = (
            tuple(carriers) if isinstance(carriers, list | tuple) else None
        )
        return cls(**found)

    @staticmethod
    def labels() -> dict[str, str]:
        """Each owned field's name and the words the page shows for it, in display order."""
        return {f.name: f.metadata["label"] for f in fields(OwnedSettings)}

    def to_json(self) -> dict[str, Any]:
        """All four fields, carriers as a list."""
        found = asdict(self)
        if self.service_point_carriers is not None:
            found["service_point_carriers"] = list(self.service_point_carriers)
        return found

    def shown(self) -> dict[str, Any]:
        """All four fields as the page and the API show them (no carriers: an empty list)."""
        return self.to_json() | {"service_point_carriers": list(self.service_point_carriers or ())}

    def patch_body(self) -> dict[str, Any]:
        """The PATCH body: only the fields this value sets (never PUT, never the merchant's)."""
        return {name: value for name, value in self.to_json().items() if value is not None}

    def changes_from(self, current: OwnedSettings) -> list[FieldChange]:
        """The fields this value sets that `current` has otherwise."""
        now, wanted = current.to_json(), self.to_json()
        return [
            FieldChange(name, now[name], value)
            for name, value in wanted.items()
            if value is not None and not _same(name, now[name], value)
        ]

    def restoring(self, null_url: bool = False) -> OwnedSettings:
        """What puts these earlier settings back. Without an earlier URL the webhook is switched
        off; API v3 (`null_url`) also clears the URL ("" here, sent as null), v2 refuses that."""
        if self.webhook_url:
            return self
        return replace(self, webhook_url="" if null_url else None, webhook_active=False)

    def problems(self, offered: tuple[str, ...] | None = None) -> list[str]:
        """What Sendcloud would reject or what cannot work, in plain words (empty when fine);
        `offered`: the carriers Sendcloud offers this integration for service points."""
        problems: list[str] = []
        if self.service_point_enabled and not self.service_point_carriers:
            problems.append(
                "service points are enabled but no carrier is given: Sendcloud needs at least "
                "one carrier code (e.g. ups, dhl), or disable service points"
            )
        carriers = self.service_point_carriers or ()
        unknown = [c for c in carriers if offered is not None and c not in offered]
        if self.service_point_enabled and unknown:
            problems.append(
                f"Sendcloud does not offer service points with {', '.join(unknown)} for this "
                f"integration (it offers: {', '.join(offered or ()) or 'none'})"
            )
        parts = urlsplit(self.webhook_url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"the webhook URL {self.webhook_url!r} is not an absolute URL")
        elif parts.scheme == "http" and not is_loopback_host(parts.hostname):
            problems.append(
                f"the webhook URL {self.webhook_url!r} must use https:// (plain http only for "
                "loopback hosts, for local tests); Sendcloud must reach it over TLS"
            )
        elif parts.username or parts.password:
            problems.append("the webhook URL must not carry a user name or password")
        return problems

    def __eq__(self, other: object) -> bool:
        # Sendcloud may reorder the carriers: they compare as a set.
        if not isinstance(other, OwnedSettings):
            return NotImplemented
        mine, theirs = self.to_json(), other.to_json()
        return all(_same(name, theirs[name], value) for name, value in mine.items())

    def __hash__(self) -> int:
        carriers = frozenset(self.service_point_carriers or ())
        return hash((self.webhook_url, self.webhook_active, self.service_point_enabled, carriers))


def _same(name: str, current: Any, desired: Any) -> bool:
    if name == "service_point_carriers":
        return set(current or ()) == set(desired or ())
    return bool(current == desired)


def desired(base_url: str, enabled: bool, carriers: Iterable[str]) -> OwnedSettings:
    """What this service wants at Sendcloud when it is reached at `base_url`."""
    codes = tuple(dict.fromkeys(c.strip().lower() for c in carriers if c.strip()))
    return OwnedSettings(
        webhook_url=base_url.rstrip("/") + WEBHOOK_PATH,
        webhook_active=True,
        service_point_enabled=enabled,
        # Service points off and no carriers named: leave the merchant's carrier list alone
        # rather than wiping it with an empty list.
        service_point_carriers=codes if enabled or codes else None,
    )


@dataclass(frozen=True)
class Plan:
    """The live owned settings of one integration against the desired ones."""

    integration_id: int
    shop_name: str | None
    current: OwnedSettings
    desired: OwnedSettings
    changes: list[FieldChange]
