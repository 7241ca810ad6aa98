"""The state of one bootstrap attempt and its steps, as every worker reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bootstrap.plan import same_value

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


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class Step:
    """One step of an attempt."""

    name: str
    status: str
    detail: str

    def to_json(self) -> dict[str, str]:
        """JSON form."""
        label = STEP_LABELS.get(self.name, self.name)
        return {"name": self.name, "label": label, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class AttemptState:
    """One bootstrap (or undo) attempt as stored."""

    attempt_id: str
    integration_id: int
    kind: str
    state: str
    target: dict[str, Any]
    previous: dict[str, Any] | None
    steps: tuple[Step, ...]
    started_at: datetime
    patched_at: datetime | None
    since: datetime | None
    deadline_at: datetime | None
    verified_at: datetime | None
    message: str | None
    hint: str | None

    @property
    def webhook_url(self) -> str | None:
        """The webhook URL this attempt sets."""
        value = self.target.get("webhook_url")
        return str(value) if value is not None else None

    def matches(self, owned: dict[str, Any]) -> bool:
        """True when `owned` has every target field of this attempt."""
        return all(same_value(k, owned.get(k), v) for k, v in self.target.items())

    def to_json(self) -> dict[str, Any]:
        """The spec's JSON state of an attempt."""
        return {
            "attempt_id": self.attempt_id,
            "integration_id": self.integration_id,
            "kind": self.kind,
            "state": self.state,
            "webhook_url": self.target.get("webhook_url"),
            "webhook_active": self.target.get("webhook_active"),
            "service_point_enabled": self.target.get("service_point_enabled"),
            "service_point_carriers": self.target.get("service_point_carriers"),
            "previous_settings": self.previous,
            "steps": [s.to_json() for s in self.steps],
            "started_at": _iso(self.started_at),
            "patched_at": _iso(self.patched_at),
            "deadline_at": _iso(self.deadline_at),
            "verified_at": _iso(self.verified_at),
            "message": self.message,
            "hint": self.hint,
        }
