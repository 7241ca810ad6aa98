"""The bootstrap use-case: plan, validate, pre-flight, record, PATCH, read back, await, undo."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from bootstrap.attempt_state import AttemptState, utcnow
from bootstrap.attempts import AttemptStore
from bootstrap.errors import BootstrapError, InvalidDesiredSettings, NothingToUndo
from bootstrap.plan import (
    Desired,
    DriftReport,
    FieldChange,
    Plan,
    desired_for,
    desired_problems,
    make_plan,
)
from bootstrap.preflight import preflight
from bootstrap.progress import OnStep, Progress
from bootstrap.sendcloud_client import SendcloudClient
from bootstrap.settings import BootstrapSettings
from bootstrap.steps import apply_change, earlier_proof, read_integration, restorable
from bootstrap.watch import Watcher
from receivers.errors import StorageUnavailable, where
from receivers.store import EventStore, StoredEvent

__all__ = [
    "AttemptState",
    "Bootstrapper",
    "Desired",
    "DriftReport",
    "FieldChange",
    "Plan",
    "desired_for",
]

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2


class Bootstrapper:
    """Points one Sendcloud integration at our receiver and proves the round trip."""

    def __init__(
        self,
        settings: BootstrapSettings,
        client: SendcloudClient,
        attempts: AttemptStore,
        events: EventStore,
        webhook_secret: str | None,
    ) -> None:
        if settings.integration_id is None:
            raise ValueError("the bootstrap needs an integration id")
        self.integration_id = settings.integration_id
        self.client = client
        self.attempts = attempts
        self.events = events
        self._secret = webhook_secret
        # An attempt still "applying" after every call could have used its whole retry
        # budget (plus the pre-flight) was interrupted by a restart.
        stale = timedelta(seconds=4 * client.policy.budget_seconds + 60)
        self.watcher = Watcher(self.integration_id, client, attempts, events, stale)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def plan(self, desired: Desired) -> Plan:
        """Read the integration and compare its owned fields with `desired` (no change made)."""
        return make_plan(self.client.get_integration(self.integration_id), desired)

    def start(self, desired: Desired, wait_seconds: float) -> AttemptState:
        """Persist a new attempt and run it in a background thread; returns at once."""
        attempt = self._create(desired)
        thread = threading.Thread(
            target=self._execute,
            args=(attempt.attempt_id, desired, wait_seconds, None),
            name=f"bootstrap-{attempt.attempt_id[:8]}",
            daemon=True,
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return attempt

    def run(
        self, desired: Desired, wait_seconds: float, on_step: OnStep | None = None
    ) -> AttemptState:
        """Run a whole attempt in this thread (the CLI); returns its final state."""
        attempt = self._create(desired)
        return self._execute(attempt.attempt_id, desired, wait_seconds, on_step)

    def latest(self, refresh_live: bool = False) -> AttemptState | None:
        """The newest attempt, re-evaluated from the database (and Sendcloud if asked)."""
        return self.watcher.latest(refresh_live)

    def check(self, desired: Desired) -> DriftReport:
        """Compare the live settings at Sendcloud with `desired`, field by field."""
        return self.watcher.check(desired)

    def on_delivery(self, event: StoredEvent) -> None:
        """Receiver listener (quick: database only)."""
        self.watcher.on_delivery(event)

    def undo(self, on_step: OnStep | None = None) -> AttemptState:
        """Restore the owned settings recorded before the last change (one PATCH)."""
        source = self.attempts.latest_with_previous(self.integration_id)
        if source is None or source.previous is None:
            raise NothingToUndo(
                "nothing to undo: no change by this service to integration "
                f"{self.integration_id} is recorded"
            )
        restore = restorable(source.previous)
        attempt = self._new_attempt("undo", restore)
        progress = Progress(self.attempts, attempt.attempt_id, on_step)
        try:
            self.attempts.update(attempt.attempt_id, state="applying")
            _, changes = read_integration(self.client, self.integration_id, progress, restore)
            progress.skip("public_url_reachable", "not needed to restore settings")
            if changes:
                apply_change(
                    self.client, self.attempts, self.integration_id, progress, restore, None
                )
            else:
                progress.skip("change_applied", "the recorded settings are already in place")
                progress.skip("read_back", "read just now")
            progress.skip("webhook_received", "not awaited: the webhook may point elsewhere now")
            now = utcnow()
            self.attempts.update(
                attempt.attempt_id, state="verified", verified_at=now, since=now, message=None
            )
        except BootstrapError as exc:
            self._failed(progress, exc)
        return self.attempts.get(attempt.attempt_id) or attempt

    def close(self) -> None:
        """Stop waiting threads and close the client's connections."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.client.close()

    def _create(self, desired: Desired) -> AttemptState:
        problems = desired_problems(desired)
        if problems:
            raise InvalidDesiredSettings(problems)
        return self._new_attempt("apply", desired.fields())

    def _new_attempt(self, kind: str, target: dict[str, Any]) -> AttemptState:
        """Persist a new attempt; AttemptInProgress while another one is changing Sendcloud."""
        current = self.attempts.latest(self.integration_id)
        if current is not None:
            # Fails an attempt whose process stopped mid-way, so it no longer blocks.
            self.watcher.evaluate(current)
        return self.attempts.create(self.integration_id, kind, target)

    def _execute(
        self, attempt_id: str, desired: Desired, wait_seconds: float, on_step: OnStep | None
    ) -> AttemptState:
        progress = Progress(self.attempts, attempt_id, on_step)
        try:
            self._bootstrap(progress, attempt_id, desired, wait_seconds)
        except BootstrapError as exc:
            self._failed(progress, exc)
        except StorageUnavailable as exc:
            log.error("bootstrap_storage_unavailable attempt_id=%s error=%s", attempt_id, exc)
            raise
        except Exception as exc:  # noqa: BLE001 (logged by type and place just below)
            # A background thread must leave a failed state behind, not die silently.
            # Type and place only: the message of an unexpected error may carry data.
            log.error(
                "bootstrap_crashed attempt_id=%s error=%s where=%s",
                attempt_id,
                type(exc).__name__,
                where(exc),
            )
            self._failed(progress, BootstrapError(f"unexpected error ({type(exc).__name__})"))
        found = self.attempts.get(attempt_id)
        assert found is not None  # noqa: S101 (created before this ran)
        return found

    def _bootstrap(
        self, progress: Progress, attempt_id: str, desired: Desired, wait_seconds: float
    ) -> None:
        self.attempts.update(attempt_id, state="applying")
        wanted = desired.fields()
        integration, changes = read_integration(self.client, self.integration_id, progress, wanted)
        progress.begin("public_url_reachable", desired.webhook_url)
        progress.done(preflight(desired.webhook_url, self._secret, attempt_id))
        if not changes:
            progress.skip("change_applied", "already configured: nothing sent to Sendcloud")
            progress.skip("read_back", "the settings just read already match")
            earlier = earlier_proof(self.attempts, self.events, self.integration_id, wanted)
            if earlier:
                now = utcnow()
                self.attempts.update(
                    attempt_id, state="verified", since=now, verified_at=now, message=None
                )
                progress.skip("webhook_received", earlier)
                return
        else:
            apply_change(
                self.client,
                self.attempts,
                self.integration_id,
                progress,
                wanted,
                integration.owned(),
            )
        self._await(progress, attempt_id, desired.webhook_url, wait_seconds)

    def _await(self, progress: Progress, attempt_id: str, url: str, wait_seconds: float) -> None:
        deadline = utcnow() + timedelta(seconds=wait_seconds)
        self.attempts.update(
            attempt_id, only_from=("applying",), state="awaiting_webhook", deadline_at=deadline
        )
        progress.begin(
            "webhook_received", f"waiting up to {wait_seconds:g} s for Sendcloud to call {url}"
        )
        while True:
            attempt = self.attempts.get(attempt_id)
            if attempt is None or self._stop.is_set():
                return
            attempt = self.watcher.evaluate(attempt)
            if attempt.state != "awaiting_webhook":
                step = next((s for s in attempt.steps if s.name == "webhook_received"), None)
                if step and progress.on_step:
                    progress.on_step(step.name, step.status, step.detail)
                return
            self._stop.wait(POLL_SECONDS)

    def _failed(self, progress: Progress, exc: BootstrapError) -> None:
        progress.fail(str(exc))
        self.attempts.update(
            progress.attempt_id,
            only_from=("planned", "applying", "awaiting_webhook"),
            state="failed",
            message=str(exc),
            hint=exc.hint,
        )
        log.warning("bootstrap_failed attempt_id=%s error=%s", progress.attempt_id, exc)
