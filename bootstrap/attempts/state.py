"""The state of one bootstrap attempt and its steps, and what a delivery means for it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from bootstrap.owned import OwnedSettings
from receivers.schemas import INTEGRATION_ACTIONS
from receivers.store import IntegrationState, StoredEvent

STATES = (
    "planned",
    "applying",
    "awaiting_webhook",
    "verified",
    "failed",
    "timed_out",
    "drifted",
    "deleted",
)
# States of an attempt that is still changing Sendcloud: at most one per integration.
ACTIVE = ("planned", "applying")
# (name, label) in the order a bootstrap goes through them.
STEPS = (
    ("credentials", "Credentials"),
    ("integration_found", "Integration found"),
    ("public_url_reachable", "Public URL reachable"),
    ("change_applied", "Change applied"),
    ("read_back", "Read back"),
    ("webhook_received", "Webhook received"),
)
STEP_LABELS = dict(STEPS)


@dataclass(frozen=True)
class Step:
    """One step of an attempt."""

    name: str
    status: str  # pending | running | done | failed | skipped
    detail: str

    def to_json(self) -> dict[str, str]:
        """JSON form, with the label the page shows."""
        label = STEP_LABELS.get(self.name, self.name)
        return {"name": self.name, "label": label, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class AttemptState:
    """One bootstrap (or undo) attempt as stored."""

    attempt_id: str
    integration_id: int
    kind: str  # apply | undo
    state: str
    target: OwnedSettings  # what this attempt sets
    previous: OwnedSettings | None  # the settings before its change, for undo
    steps: tuple[Step, ...]
    started_at: datetime
    patched_at: datetime | None
    since: datetime | None  # deliveries received from then on count for the round trip
    deadline_at: datetime | None
    verified_at: datetime | None
    message: str | None
    hint: str | None

    def to_json(self) -> dict[str, Any]:
        """The spec's JSON state of an attempt."""
        return {
            "attempt_id": self.attempt_id,
            "integration_id": self.integration_id,
            "kind": self.kind,
            "state": self.state,
            **self.target.to_json(),
            "previous_settings": self.previous.to_json() if self.previous else None,
            "steps": [step.to_json() for step in self.steps],
            "started_at": _iso(self.started_at),
            "patched_at": _iso(self.patched_at),
            "deadline_at": _iso(self.deadline_at),
            "verified_at": _iso(self.verified_at),
            "message": self.message,
            "hint": self.hint,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _integration(event: StoredEvent) -> dict[str, Any]:
    found = event.payload.get("integration") if isinstance(event.payload, dict) else None
    return found if isinstance(found, dict) else {}


def integration_id_of(event: StoredEvent) -> int | None:
    """The integration id of an integration event (stored column, else the payload)."""
    found = event.integration_id or _integration(event).get("id")
    return found if isinstance(found, int) else None


class Verdict(NamedTuple):
    """What one delivery means for an attempt: `verified` or `deleted`, with a detail."""

    state: str
    event: StoredEvent
    detail: str


def round_trip_verdict(
    events: Iterable[StoredEvent], integration_id: int, target: OwnedSettings
) -> Verdict | None:
    """The first delivery that proves (or ends) the round trip for `target`, if any."""
    # Any signed delivery proves Sendcloud reaches us; our integration's events must also match.
    for event in events:
        when = event.received_at.strftime("%H:%M:%S")
        described = f"signed {event.action} delivery #{event.id} received at {when} UTC"
        if event.action not in INTEGRATION_ACTIONS:
            return Verdict("verified", event, described)
        if integration_id_of(event) != integration_id or event.outcome == "stale":
            continue
        if event.action == "integration_deleted":
            return Verdict("deleted", event, f"the integration was deleted ({described})")
        if not target.changes_from(reported(event)):
            return Verdict("verified", event, described + "; its settings match")
        # Otherwise an older change, delivered late: keep waiting for ours.
    return None


def reported(event: StoredEvent) -> OwnedSettings:
    """The owned settings an integration event reports (missing ones are None)."""
    return OwnedSettings.from_mapping(_integration(event))


def earlier_proof(
    wanted: OwnedSettings, earlier: AttemptState | None, told: IntegrationState | None
) -> str | None:
    """Why the round trip for `wanted` is already proven (`earlier` attempt, webhook), or None."""
    if earlier and earlier.verified_at and not wanted.changes_from(earlier.target):
        return f"round trip already proven at {earlier.verified_at:%Y-%m-%d %H:%M:%S} UTC"
    if (
        told
        and not told.deleted
        and not wanted.changes_from(OwnedSettings.from_mapping(vars(told)))
    ):
        return "a signed webhook from Sendcloud already reported these settings"
    return None
