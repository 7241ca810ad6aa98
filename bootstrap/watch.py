"""Keeping an attempt's state true over time: the round trip, timeout, drift and deletion."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from bootstrap.attempts.state import (
    ACTIVE,
    STATES,
    AttemptState,
    integration_id_of,
    reported,
    round_trip_verdict,
)
from bootstrap.attempts.store import AttemptStore
from bootstrap.errors import BootstrapError, IntegrationNotFound
from bootstrap.owned import FieldChange, OwnedSettings
from bootstrap.sendcloud.client import SendcloudClient
from bootstrap.sendcloud.schemas import Integration
from receivers.schemas import INTEGRATION_ACTIONS
from receivers.store import EventStore, StoredEvent

log = logging.getLogger(__name__)

LIVE_CACHE_SECONDS = 10.0
TIMEOUT_HINT = (
    "Sendcloud may only call the webhook on the next event. Open Sendcloud > Settings > "
    "Integrations > this integration and press 'Test API Webhook': a test webhook arriving "
    "now still completes the proof (reload the onboarding page or run the bootstrap again)."
)
DRIFT_HINT = "Run the bootstrap again (onboarding page or `flask --app app bootstrap`)."
DELETED_HINT = (
    "Create or pick an integration, then set SENDCLOUD_INTEGRATION_ID and run the bootstrap."
)
WAITING = ("awaiting_webhook", "timed_out")
NOT_DELETED = tuple(state for state in STATES if state != "deleted")


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
        aid, since, deadline = attempt.attempt_id, attempt.since, attempt.deadline_at
        now = datetime.now(UTC)
        if attempt.state in WAITING and since is not None:
            found = round_trip_verdict(
                self.events.events_received_since(since), self.integration_id, attempt.target
            )
            if found and self.attempts.update(
                aid,
                only_from=WAITING,
                state=found.state,
                message=None if found.state == "verified" else found.detail,
                hint=None,
                **({"verified_at": now} if found.state == "verified" else {}),
            ):
                status = "done" if found.state == "verified" else "failed"
                self.attempts.set_step(aid, "webhook_received", status, found.detail)
                log.info(
                    "bootstrap_round_trip attempt_id=%s state=%s event_id=%s",
                    aid,
                    found.state,
                    found.event.id,
                )
            elif not found and attempt.state == "awaiting_webhook" and deadline and now >= deadline:
                waited = (deadline - since).total_seconds()
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
                live = self.live_settings(not_before=attempt.patched_at or attempt.started_at)
            except BootstrapError as exc:
                log.warning(
                    "live_check_failed integration_id=%s error=%s", self.integration_id, exc
                )
                return attempt
            self.compare(attempt, live, "live settings")
            attempt = self.attempts.get(attempt.attempt_id)
        return attempt

    def on_delivery(self, event: StoredEvent) -> None:
        """Receiver listener: integration events of ours can verify, drift or delete at once."""
        with self._arrivals:
            self._arrivals.notify_all()  # waiting attempts look again now
        if event.action not in INTEGRATION_ACTIONS or event.outcome == "stale":
            return
        attempt = self.attempts.latest(self.integration_id)
        if attempt is None or integration_id_of(event) != self.integration_id:
            return
        if event.action == "integration_deleted":
            self.compare(attempt, None, f"delivery #{event.id}")
        elif attempt.state in WAITING:
            self.evaluate(attempt)
        else:
            self.compare(attempt, reported(event), f"delivery #{event.id}")

    def check(self, desired: OwnedSettings) -> list[FieldChange] | None:
        """Read the live settings now: how they differ from `desired` (None: integration gone)."""
        live = self.live_settings(max_age=0)
        attempt = self.attempts.latest(self.integration_id)
        if attempt is not None:
            self.compare(attempt, live, "drift check")
        return None if live is None else desired.changes_from(live)

    def live_settings(
        self, max_age: float = LIVE_CACHE_SECONDS, not_before: datetime | None = None
    ) -> OwnedSettings | None:
        """The owned settings at Sendcloud (None: the integration is gone), read at most
        `max_age` seconds ago and not before `not_before`."""
        with self._live_lock:
            cached = self._live
        if (
            cached
            and time.monotonic() - cached[0] < max_age
            and cached[1] >= (not_before or cached[1])
        ):
            return cached[2].owned if cached[2] else None
        read_at = datetime.now(UTC)
        try:
            live: Integration | None = self.client.get_integration(self.integration_id)
        except IntegrationNotFound:
            live = None
        with self._live_lock:
            self._live = (time.monotonic(), read_at, live)
        return live.owned if live else None

    def compare(self, attempt: AttemptState, live: OwnedSettings | None, source: str) -> None:
        """Mark a settled attempt deleted (`live` None), drifted, or verified again."""
        aid = attempt.attempt_id
        if live is None:
            message = f"the integration was deleted ({source})"
            if self.attempts.update(
                aid, only_from=NOT_DELETED, state="deleted", message=message, hint=DELETED_HINT
            ):
                log.warning(
                    "integration_deleted integration_id=%s source=%s", self.integration_id, source
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
                names = ",".join(c.name for c in changes)
                log.warning(
                    "integration_drifted integration_id=%s fields=%s source=%s",
                    self.integration_id,
                    names,
                    source,
                )
        elif not changes and attempt.state == "drifted" and attempt.verified_at is not None:
            self.attempts.update(
                aid, only_from=("drifted",), state="verified", message=None, hint=None
            )
