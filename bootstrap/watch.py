"""Keeping an attempt's state true over time: round trip, timeout, drift and deletion."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from bootstrap.attempt_state import STATES, AttemptState, utcnow
from bootstrap.attempts import AttemptStore
from bootstrap.errors import BootstrapError, IntegrationNotFound
from bootstrap.plan import Desired, DriftReport, differences
from bootstrap.roundtrip import (
    DELETED_ACTION,
    INTEGRATION_ACTIONS,
    Verdict,
    event_integration_id,
    mismatched,
    owned_from_event,
    round_trip_verdict,
)
from bootstrap.schemas import Integration
from bootstrap.sendcloud_client import SendcloudClient
from receivers.store import EventStore, StoredEvent

log = logging.getLogger(__name__)

LIVE_CACHE_SECONDS = 10.0
TIMEOUT_HINT = (
    "Sendcloud may only call the webhook on the next event. Open Sendcloud > Settings > "
    "Integrations > this integration and press 'Test API Webhook': a test webhook arriving "
    "now still completes the proof (reload the onboarding page or run the bootstrap again)."
)
DRIFT_HINT = "Run the bootstrap again (onboarding page or `flask --app app bootstrap`)."
WAITING = ("awaiting_webhook", "timed_out")
NOT_DELETED = tuple(state for state in STATES if state != "deleted")


def _drift_message(names: list[str], owned: dict[str, Any], target: dict[str, Any]) -> str:
    parts = [f"{n} is now {owned.get(n)!r} (set: {target.get(n)!r})" for n in names]
    return "the settings at Sendcloud changed after the bootstrap: " + "; ".join(parts)


class Watcher:
    """Re-evaluates attempts from the database, so any worker reaches the same verdict."""

    def __init__(
        self,
        integration_id: int,
        client: SendcloudClient,
        attempts: AttemptStore,
        events: EventStore,
        stale_after: timedelta,
    ) -> None:
        self.integration_id = integration_id
        self.client = client
        self.attempts = attempts
        self.events = events
        self.stale_after = stale_after
        # (monotonic read time, wall-clock read time, what was read)
        self._live: tuple[float, datetime, Integration | None] | None = None
        self._live_lock = threading.Lock()

    def evaluate(self, attempt: AttemptState) -> AttemptState:
        """Apply what the store and the clock say to one attempt; return its fresh state."""
        aid, now = attempt.attempt_id, utcnow()
        if attempt.state in WAITING and attempt.since is not None:
            found = self.events.events_received_since(attempt.since)
            verdict = round_trip_verdict(found, self.integration_id, attempt.target)
            if verdict:
                self._conclude(attempt, verdict)
            elif (
                attempt.state == "awaiting_webhook"
                and attempt.deadline_at
                and (now >= attempt.deadline_at)
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
        elif attempt.state in ("planned", "applying") and now - attempt.started_at > (
            self.stale_after
        ):
            self.attempts.update(
                aid,
                only_from=("planned", "applying"),
                state="failed",
                message="interrupted: the process running this attempt stopped",
                hint="Start the bootstrap again.",
            )
        return self.attempts.get(aid) or attempt

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
            self._compare(attempt, None if live is None else live.owned(), "live settings")
            attempt = self.attempts.get(attempt.attempt_id) or attempt
        return attempt

    def on_delivery(self, event: StoredEvent) -> None:
        """Receiver listener: integration events of ours can verify, drift or delete at once."""
        if event.action not in INTEGRATION_ACTIONS or event.outcome == "stale":
            return
        if event_integration_id(event) != self.integration_id:
            return
        attempt = self.attempts.latest(self.integration_id)
        if attempt is None:
            return
        if event.action == DELETED_ACTION:
            self._compare(attempt, None, f"delivery #{event.id}")
            return
        if attempt.state in WAITING:
            self.evaluate(attempt)
        else:
            self._compare(attempt, owned_from_event(event), f"delivery #{event.id}")

    def check(self, desired: Desired) -> DriftReport:
        """Read the live settings now and compare them field by field with `desired`."""
        live = self._live_settings(max_age=0)
        attempt = self.attempts.latest(self.integration_id)
        if attempt is not None:
            self._compare(attempt, None if live is None else live.owned(), "drift check")
        if live is None:
            return DriftReport(self.integration_id, utcnow(), deleted=True)
        changes = differences(live.owned(), desired.fields())
        return DriftReport(self.integration_id, utcnow(), deleted=False, changes=changes)

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
        read_at = utcnow()
        try:
            live: Integration | None = self.client.get_integration(self.integration_id)
        except IntegrationNotFound:
            live = None
        with self._live_lock:
            self._live = (time.monotonic(), read_at, live)
        return live

    def _conclude(self, attempt: AttemptState, verdict: Verdict) -> None:
        values: dict[str, Any] = {"state": verdict.state, "message": None, "hint": None}
        if verdict.state == "verified":
            values["verified_at"] = utcnow()
        else:
            values["message"] = verdict.detail
        if self.attempts.update(attempt.attempt_id, only_from=WAITING, **values):
            status = "done" if verdict.state == "verified" else "failed"
            self.attempts.set_step(attempt.attempt_id, "webhook_received", status, verdict.detail)
            log.info(
                "bootstrap_round_trip attempt_id=%s state=%s event_id=%s",
                attempt.attempt_id,
                verdict.state,
                verdict.event.id,
            )

    def _compare(self, attempt: AttemptState, owned: dict[str, Any] | None, source: str) -> None:
        """Mark a settled attempt deleted, drifted, or (settings match again) verified."""
        aid = attempt.attempt_id
        if owned is None:
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
        names = mismatched(attempt.target, owned)
        if names and attempt.state == "verified":
            message = _drift_message(names, owned, attempt.target)
            if self.attempts.update(
                aid, only_from=("verified",), state="drifted", message=message, hint=DRIFT_HINT
            ):
                log.warning(
                    "integration_drifted integration_id=%s fields=%s source=%s",
                    attempt.integration_id,
                    ",".join(names),
                    source,
                )
        elif not names and attempt.state == "drifted" and attempt.verified_at is not None:
            self.attempts.update(
                aid, only_from=("drifted",), state="verified", message=None, hint=None
            )
