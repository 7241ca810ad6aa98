"""The state of one bootstrap attempt and its steps, as every worker reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bootstrap.owned import OwnedSettings

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
            **{
                name: moment.isoformat() if moment else None
                for name, moment in (
                    ("started_at", self.started_at),
                    ("patched_at", self.patched_at),
                    ("deadline_at", self.deadline_at),
                    ("verified_at", self.verified_at),
                )
            },
            "message": self.message,
            "hint": self.hint,
        }
