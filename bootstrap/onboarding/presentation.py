"""How the page shows settings and attempts: the diff rows, values in words, the planned state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FIELD_LABELS = {
    "webhook_url": "Webhook URL",
    "webhook_active": "Webhooks on",
    "service_point_enabled": "Service points",
    "service_point_carriers": "Service-point carriers",
}
# States in which the page keeps polling; timed_out too, because a test webhook pressed in
# the Sendcloud panel still completes the proof.
LIVE_STATES = ("planned", "applying", "awaiting_webhook", "timed_out")
# States whose message (what went wrong) the page shows next to the steps.
PROBLEM_STATES = ("failed", "timed_out", "drifted", "deleted")
STATE_LABELS = {
    "planned": "Planned",
    "applying": "Applying…",
    "awaiting_webhook": "Waiting for Sendcloud's webhook…",
    "verified": "Verified",
    "failed": "Failed",
    "timed_out": "No webhook yet",
    "drifted": "Drifted",
    "deleted": "Integration deleted",
}


def when(iso: str | None) -> str:
    """An ISO timestamp from the JSON state as the page shows it (UTC, to the second)."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        return iso
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def state_label(attempt: Mapping[str, Any]) -> str:
    """The words for an attempt's state; a finished undo reads "Restored"."""
    if attempt.get("kind") == "undo" and attempt["state"] == "verified":
        return "Restored"
    state = str(attempt["state"])
    return STATE_LABELS.get(state, state)


@dataclass(frozen=True)
class DiffRow:
    """One owned field: its value at Sendcloud now and after the change."""

    name: str
    label: str
    current: str
    planned: str
    changed: bool


def in_words(value: Any) -> str:
    """A setting's value as the page shows it."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) if value else "none"
    return str(value)


def diff_rows(
    current: Mapping[str, Any], planned: Mapping[str, Any], changed: Sequence[str]
) -> list[DiffRow]:
    """One row per owned field, in a fixed order, marking the fields the change touches."""
    return [
        DiffRow(
            name=name,
            label=label,
            current=in_words(current.get(name)),
            planned=in_words(planned.get(name)),
            changed=name in changed,
        )
        for name, label in FIELD_LABELS.items()
    ]


def planned_fields(
    webhook_url: str, service_point_enabled: bool, service_point_carriers: Sequence[str]
) -> dict[str, Any]:
    """The owned fields as this service wants them (webhooks are always switched on)."""
    return {
        "webhook_url": webhook_url,
        "webhook_active": True,
        "service_point_enabled": service_point_enabled,
        "service_point_carriers": list(service_point_carriers),
    }


def planned_state(
    integration_id: int, planned: Mapping[str, Any], changed: Sequence[str]
) -> dict[str, Any]:
    """The API's JSON while no attempt exists yet: state `planned` and the planned change."""
    return {
        "attempt_id": None,
        "integration_id": integration_id,
        "state": "planned",
        "webhook_url": planned["webhook_url"],
        "service_point_enabled": planned["service_point_enabled"],
        "service_point_carriers": list(planned["service_point_carriers"]),
        "steps": [],
        "started_at": None,
        "verified_at": None,
        "changes": list(changed),
    }
