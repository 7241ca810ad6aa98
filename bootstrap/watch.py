"""Keeping an attempt's state true over time: the round trip, timeout, drift and deletion."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bootstrap.attempts.state import ACTIVE, STATES, AttemptState
from bootstrap.attempts.store import AttemptStore
from bootstrap.errors import BootstrapError, IntegrationNotFound
from bootstrap.owned import FieldChange, OwnedSettings
from bootstrap.sendcloud.client import SendcloudClient
from bootstrap.sendcloud.schemas import Integration
from receivers.store import EventStore, StoredEvent

log = logging.getLogger(__name__)

INTEGRATION_ACTIONS = frozenset(
    {"integration_updated", "integration_connected", "integration_deleted"}
)
LIVE_CACHE_SECONDS = 10.0
TIMEOUT_HINT = (
    "Sendcloud may only call the webhook on the next event. Open Sendcloud > Settings > "
    "Integrations > this integration and press 'Test API Webhook': a test webhook arriving "
    "now still completes the proof (reload the onboarding page or run the bootstrap again)."
)
DRIFT_HINT = "Run the bootstrap again (onboarding page or `flask --app app bootstrap`)."
WAITING = ("awaiting_webhook", "timed_out")
NOT_DELETED = tuple(state for state in STATES if state != "deleted")


def event_integration_id(event: StoredEvent) -> int | None:
    """The integration id of an integration event (stored column, else the payload)."""
    if event.integration_id is not None:
        return event.integration_id
    found = _integration(event).get("id")
    return found if isinstance(found, int) else None


def reported(event: StoredEvent) -> OwnedSettings:
    """The owned settings an integration event reports (missing ones are None)."""
    return OwnedSettings.from_mapping(_integration(event))


def _integration(event: StoredEvent) -> dict[str, object]:
    found = event.payload.get("integration") if isinstance(event.payload, dict) else None
    return found if isinstance(found, dict) else {}


@dataclass(frozen=True)
class Verdict:
    """What one delivery means for an attempt: `verified` or `deleted`, with a detail."""

    state: str
    event: StoredEvent
    detail: str


def round_trip_verdict(
    events: Iterable[StoredEvent], integration_id: int, target: OwnedSettings
) -> Verdict | None:
    """The first delivery that proves (or ends) the round trip for `target`, if any.

    Any correctly signed delivery proves Sendcloud reaches us with our key; an
    integration_updated/connected event of our integration must also show what was set.
    """
    for event in events:
        when = event.received_at.strftime("%H:%M:%S")
        described = f"signed {event.action} delivery #{event.id} received at {when} UTC"
        if event.action not in INTEGRATION_ACTIONS:
            return Verdict("verified", event, described)
        if event_integration_id(event) != integration_id or event.outcome == "stale":
            continue
        if event.action == "integration_deleted":
            return Verdict("deleted", event, f"the integration was deleted ({described})")
        if not target.changes_from(reported(event)):
            return Verdict("verified", event, described + "; its settings match")
        # Otherwise an older change, delivered late: keep waiting for ours.
    return None


@dataclass(frozen=True)
class DriftReport:
    """Live settings at Sendcloud compared with the desired ones."""

    integration_id: int
    deleted: bool
    changes: list[FieldChange]


class Watcher:
    """Re-evaluates attempts from the database, so any worker reaches the same verdict."""

    def __init__(
        self,
        client: SendcloudClient,
        attempts: AttemptStore,
        events: EventStore,
        integration_id: int,
    ) -> None:
        self.integration_id = integration_id
        self.client = client
        self.attempts = attempts
        self.events = events
        # An attempt still "applying" after every call could have used its whole retry
        # budget (plus the pre-flight) was interrupted by a restart.
        self.stale_after = timedelta(seconds=4 * client.budget_seconds + 60)
        # (monotonic read time, wall-clock read time, what was read)
        self._live: tuple[float, datetime, Integration | None] | None = None
        self._live_lock = threading.Lock()
        self._arrivals = threading.Condition()

    def wait_for_delivery(self, timeout: float) -> None:
        """Sleep until a delivery reaches this process, or `timeout` seconds pass."""
        with self._arrivals:
            self._arrivals.wait(timeout)

    def evaluate(self, attempt: AttemptState) -> AttemptState:
        """Apply what the store and the clock say to one attempt; return its fresh state."""
        aid, now = attempt.attempt_id, datetime.now(UTC)
        if attempt.state in WAITING and attempt.since is not None:
            found = self.events.events_received_since(attempt.since)
            verdict = round_trip_verdict(found, self.integration_id, attempt.target)
            if verdict:
                self._conclude(attempt, verdict)
            elif (
                attempt.state == "awaiting_webhook"
                and attempt.deadline_at
                and now >= attempt.deadline_at
            ):
                waited = (attempt.deadline_at - attempt.since).total_seconds()
                if self.attempts.update(
                    aid,
                    only_from=("awaiting_webhook",),
                    state="timed_out",
                    message=f"no webhook from Sendcloud arrived within {waited:.0f} s",
                    hint=TIMEOUT_HINT,
                ):
                    self.attempts.set_step(aid, "webhook_received", "failed", "none arrived yet")
        elif attempt.state in ACTIVE and now - attempt.started_at > self.stale_after:
            self.attempts.update(
                aid,
                only_from=ACTIVE,
                state="failed",
                message="interrupted: the process running this attempt stopped",
                hint="Start the bootstrap again.",
            )
        return self.attempts.get(aid)

    def latest(self, refresh_live: bool = False) -> AttemptState | None:
        """The newest attempt, re-evaluated; with `refresh_live` also against Sendcloud."""
        attempt = self.attempts.latest(self.integration_id)
        if attempt is None:
            return None
        attempt = self.evaluate(attempt)
        if refresh_live and attempt.state in ("verified", "drifted"):
            try:
                # A snapshot read before this attempt's PATCH (on any worker) says nothing
                # about the settings it applied.
                live = self._live_settings(not_before=attempt.patched_at or attempt.started_at)
            except BootstrapError as exc:
                log.warning(
                    "live_check_failed integration_id=%s error=%s", attempt.integration_id, exc
                )
                return attempt
            self._compare(attempt, live.owned if live else None, "live settings")
            attempt = self.attempts.get(attempt.attempt_id)
        return attempt

    def on_delivery(self, event: StoredEvent) -> None:
        """Receiver listener: integration events of ours can verify, drift or delete at once."""
        with self._arrivals:
            self._arrivals.notify_all()  # waiting attempts look again now
        if event.action not in INTEGRATION_ACTIONS or event.outcome == "stale":
            return
        if event_integration_id(event) != self.integration_id:
            return
        attempt = self.attempts.latest(self.integration_id)
        if attempt is None:
            return
        if event.action == "integration_deleted":
            self._compare(attempt, None, f"delivery #{event.id}")
        elif attempt.state in WAITING:
            self.evaluate(attempt)
        else:
            self._compare(attempt, reported(event), f"delivery #{event.id}")

    def check(self, desired: OwnedSettings) -> DriftReport:
        """Read the live settings now and compare them field by field with `desired`."""
        live = self._live_settings(max_age=0)
        attempt = self.attempts.latest(self.integration_id)
        if attempt is not None:
            self._compare(attempt, live.owned if live else None, "drift check")
        if live is None:
            return DriftReport(self.integration_id, deleted=True, changes=[])
        return DriftReport(
            self.integration_id, deleted=False, changes=desired.changes_from(live.owned)
        )

    def _live_settings(
        self, max_age: float = LIVE_CACHE_SECONDS, not_before: datetime | None = None
    ) -> Integration | None:
        with self._live_lock:
            cached = self._live
        if (
            cached
            and time.monotonic() - cached[0] < max_age
            and (not_before is None or cached[1] >= not_before)
        ):
            return cached[2]
        read_at = datetime.now(UTC)
        try:
            live: Integration | None = self.client.get_integration(self.integration_id)
        except IntegrationNotFound:
            live = None
        with self._live_lock:
            self._live = (time.monotonic(), read_at, live)
        return live

    def _conclude(self, attempt: AttemptState, verdict: Verdict) -> None:
        verified = verdict.state == "verified"
        if self.attempts.update(
            attempt.attempt_id,
            only_from=WAITING,
            state=verdict.state,
            message=None if verified else verdict.detail,
            hint=None,
            **({"verified_at": datetime.now(UTC)} if verified else {}),
        ):
            status = "done" if verified else "failed"
            self.attempts.set_step(attempt.attempt_id, "webhook_received", status, verdict.detail)
            log.info(
                "bootstrap_round_trip attempt_id=%s state=%s event_id=%s",
                attempt.attempt_id,
                verdict.state,
                verdict.event.id,
            )

    def _compare(self, attempt: AttemptState, live: OwnedSettings | None, source: str) -> None:
        """Mark a settled attempt deleted, drifted, or (settings match again) verified."""
        aid = attempt.attempt_id
        if live is None:
            if self.attempts.update(
                aid,
                only_from=NOT_DELETED,
                state="deleted",
                message=f"the integration was deleted ({source})",
                hint="Create or pick an integration, then set "
                "SENDCLOUD_INTEGRATION_ID and run the bootstrap.",
            ):
                log.warning(
                    "integration_deleted integration_id=%s source=%s",
                    attempt.integration_id,
                    source,
                )
            return
        changes = attempt.target.changes_from(live)
        if changes and attempt.state == "verified":
            message = "the settings at Sendcloud changed after the bootstrap: " + "; ".join(
                f"{c.name} is now {c.current!r} (set: {c.desired!r})" for c in changes
            )
            if self.attempts.update(
                aid, only_from=("verified",), state="drifted", message=message, hint=DRIFT_HINT
            ):
                log.warning(
                    "integration_drifted integration_id=%s fields=%s source=%s",
                    attempt.integration_id,
                    ",".join(c.name for c in changes),
                    source,
                )
        elif not changes and attempt.state == "drifted" and attempt.verified_at is not None:
            self.attempts.update(
                aid, only_from=("drifted",), state="verified", message=None, hint=None
            )
