"""The one desired state: the settings last applied from any surface; the environment seeds it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bootstrap.attempts.state import AttemptState
from bootstrap.errors import PublicUrlUnknown
from bootstrap.owned import OwnedSettings, desired
from bootstrap.settings import BootstrapSettings

FIRST_PLAN = "SERVICE_POINT_ENABLED/SERVICE_POINT_CARRIERS (the first plan: nothing applied yet)"
ALWAYS_ON = "always: this service receives the webhooks"
# (enabled, carriers, who chose them): service points set explicitly on this call.
Chosen = tuple[bool, tuple[str, ...], str]


@dataclass(frozen=True)
class Desired:
    """What this service wants at Sendcloud, and where each value comes from."""

    settings: OwnedSettings
    sources: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """The four owned fields as shown, and their `sources`."""
        return self.settings.shown() | {"sources": self.sources}


def desired_state(
    config: BootstrapSettings,
    applied: AttemptState | None,
    fallback: tuple[str, str] | None = None,
    chosen: Chosen | None = None,
) -> Desired:
    """The desired settings: each from PUBLIC_URL or `chosen`, else the newest `applied` attempt,
    else `fallback` (URL: base and words) or the environment (service points)."""
    last = applied.target if applied else None
    since = f"last applied {applied.started_at:%Y-%m-%d %H:%M:%S} UTC" if applied else ""
    if chosen is not None:
        enabled, carriers, points_from = chosen
    elif last is not None and last.service_point_enabled is not None:
        enabled, carriers = last.service_point_enabled, last.service_point_carriers or ()
        points_from = since
    else:
        enabled, carriers = config.service_point_enabled, config.service_point_carriers
        points_from = FIRST_PLAN
    wanted = desired(config.public_url or (fallback[0] if fallback else ""), enabled, carriers)
    if config.public_url:
        url_from = "PUBLIC_URL"
    elif last is not None and last.webhook_url:
        wanted, url_from = replace(wanted, webhook_url=last.webhook_url), since
    elif fallback is not None:
        url_from = fallback[1]
    else:
        raise PublicUrlUnknown(
            "PUBLIC_URL is not set and nothing was applied yet, so the command cannot know "
            "where Sendcloud should send webhooks: set PUBLIC_URL=https://<your app's public "
            "host>, or apply once on the onboarding page, which derives it from your browser"
        )
    return Desired(
        wanted,
        {
            "webhook_url": url_from,
            "webhook_active": ALWAYS_ON,
            "service_point_enabled": points_from,
            "service_point_carriers": points_from,
        },
    )
