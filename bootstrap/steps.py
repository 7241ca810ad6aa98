"""The Sendcloud-facing steps of an attempt: read, PATCH + check + read back, earlier proof."""

from __future__ import annotations

from typing import Any

from bootstrap.attempt_state import utcnow
from bootstrap.attempts import AttemptStore
from bootstrap.errors import ChangeNotApplied
from bootstrap.plan import FieldChange, differences
from bootstrap.progress import Progress
from bootstrap.roundtrip import mismatched
from bootstrap.schemas import Integration
from bootstrap.sendcloud_client import SendcloudClient
from receivers.store import EventStore


def read_integration(
    client: SendcloudClient, integration_id: int, progress: Progress, wanted: dict[str, Any]
) -> tuple[Integration, list[FieldChange]]:
    """Steps credentials + integration found; returns the integration and what differs."""
    progress.begin("credentials")
    progress.done(client.check_credentials())
    progress.begin("integration_found", f"id {integration_id}")
    integration = client.get_integration(integration_id)
    changes = differences(integration.owned(), wanted)
    names = ", ".join(c.name for c in changes) or "nothing (already configured)"
    shop = integration.shop_name or "integration"
    progress.done(f"{shop} (id {integration.id}); to change: {names}")
    return integration, changes


def apply_change(
    client: SendcloudClient,
    attempts: AttemptStore,
    integration_id: int,
    progress: Progress,
    wanted: dict[str, Any],
    previous: dict[str, Any] | None,
) -> None:
    """Steps change applied + read back: record, PATCH, check the answer, GET and compare."""
    attempt_id = progress.attempt_id
    if previous is not None:
        # Recorded before the PATCH, so an undo is possible even if we crash right after it.
        attempts.update(attempt_id, previous=previous)
    progress.begin("change_applied", "PATCH " + ", ".join(wanted))
    # Deliveries count from just before the PATCH: Sendcloud may call us before it answers.
    now = utcnow()
    attempts.update(attempt_id, patched_at=now, since=now)
    reported = client.patch_integration(integration_id, wanted)
    wrong = [name for name in mismatched(wanted, reported) if name in reported]
    if wrong:
        raise ChangeNotApplied(
            f"Sendcloud accepted the change of integration {integration_id} but answered "
            "other values for: " + ", ".join(f"{n} = {reported.get(n)!r}" for n in wrong)
        )
    progress.done("Sendcloud confirmed " + (", ".join(n for n in wanted if n in reported) or "it"))
    progress.begin("read_back")
    live = client.get_integration(integration_id).owned()
    wrong = mismatched(wanted, live)
    if wrong:
        raise ChangeNotApplied(
            f"reading integration {integration_id} back shows other values: "
            + ", ".join(f"{n} is {live.get(n)!r}" for n in wrong)
        )
    progress.done("the integration now has every value that was set")


def earlier_proof(
    attempts: AttemptStore, events: EventStore, integration_id: int, wanted: dict[str, Any]
) -> str | None:
    """Why the round trip for `wanted` is already proven, or None."""
    earlier = attempts.latest_verified_apply(integration_id)
    if earlier and earlier.verified_at and not mismatched(wanted, earlier.target):
        return f"round trip already proven at {earlier.verified_at:%Y-%m-%d %H:%M:%S} UTC"
    state = events.latest_integration_state(integration_id)
    if state and not state.deleted:
        told = {
            "webhook_url": state.webhook_url,
            "webhook_active": state.webhook_active,
            "service_point_enabled": state.service_point_enabled,
            "service_point_carriers": list(state.service_point_carriers),
        }
        if not mismatched(wanted, told):
            return "a signed webhook from Sendcloud already reported these settings"
    return None


def restorable(previous: dict[str, Any]) -> dict[str, Any]:
    """The PATCH that restores `previous`; Sendcloud refuses a null webhook_url, so omit it."""
    restore = {k: v for k, v in previous.items() if v is not None}
    if not restore.get("webhook_url"):
        restore.pop("webhook_url", None)
        restore["webhook_active"] = False
    return restore
