"""What stored deliveries prove about an attempt: round trip done, integration deleted, drift."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bootstrap.plan import same_value
from receivers.store import StoredEvent

SETTINGS_ACTIONS = frozenset({"integration_updated", "integration_connected"})
DELETED_ACTION = "integration_deleted"
INTEGRATION_ACTIONS = SETTINGS_ACTIONS | {DELETED_ACTION}


@dataclass(frozen=True)
class Verdict:
    """What one delivery means for an attempt: `verified` or `deleted`, with a detail."""

    state: str
    event: StoredEvent
    detail: str


def event_integration_id(event: StoredEvent) -> int | None:
    """The integration id of an integration event (stored column, else the payload)."""
    if event.integration_id is not None:
        return event.integration_id
    integration = event.payload.get("integration") if isinstance(event.payload, dict) else None
    found = integration.get("id") if isinstance(integration, dict) else None
    return found if isinstance(found, int) else None


def owned_from_event(event: StoredEvent) -> dict[str, Any]:
    """The owned fields an integration event reports (missing ones are absent)."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    integration = payload.get("integration")
    if not isinstance(integration, dict):
        return {}
    names = ("webhook_url", "webhook_active", "service_point_enabled", "service_point_carriers")
    return {name: integration[name] for name in names if name in integration}


def mismatched(target: dict[str, Any], owned: dict[str, Any]) -> list[str]:
    """Names of target fields that `owned` reports differently (or not at all)."""
    return [k for k, v in target.items() if not same_value(k, owned.get(k), v)]


def describe(event: StoredEvent) -> str:
    """A short, secret-free description of a delivery."""
    when = event.received_at.strftime("%H:%M:%S")
    return f"signed {event.action} delivery #{event.id} received at {when} UTC"


def round_trip_verdict(
    events: Iterable[StoredEvent], integration_id: int, target: dict[str, Any]
) -> Verdict | None:
    """The first delivery that proves (or ends) the round trip for `target`, if any.

    Any correctly signed delivery proves Sendcloud reaches us with our key; an
    integration_updated/connected event of our integration must also show what was set.
    """
    for event in events:
        if event.action in INTEGRATION_ACTIONS:
            if event_integration_id(event) != integration_id or event.outcome == "stale":
                continue
            if event.action == DELETED_ACTION:
                return Verdict("deleted", event, f"the integration was deleted ({describe(event)})")
            if mismatched(target, owned_from_event(event)):
                continue  # an older change, delivered late; keep waiting for ours
            return Verdict("verified", event, describe(event) + "; its settings match")
        return Verdict("verified", event, describe(event))
    return None
