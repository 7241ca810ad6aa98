"""The bootstrap use-case: plan, check, pre-flight, record, PATCH, read back, await, undo."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from bootstrap.attempts.state import ACTIVE, AttemptState, earlier_proof
from bootstrap.attempts.store import OnStep, Progress
from bootstrap.errors import BootstrapError, ChangeNotApplied, InvalidDesiredSettings, NothingToUndo
from bootstrap.owned import OwnedSettings, Plan
from bootstrap.preflight import preflight
from bootstrap.watch import Watcher
from receivers.errors import StorageUnavailable, where

log = logging.getLogger(__name__)
# How often a waiting attempt looks for a delivery that reached another process.
POLL_SECONDS = 0.2
UNFINISHED = (*ACTIVE, "awaiting_webhook")


class Bootstrapper:
    """Points one Sendcloud integration at our receiver and proves the round trip."""

    def __init__(self, watcher: Watcher, webhook_secret: str | None) -> None:
        # The watcher's client and stores: the use-case changes what the watcher judges.
        self.integration_id = watcher.integration_id
        self.client = watcher.client
        self.attempts = watcher.attempts
        self.events = watcher.events
        self.watcher = watcher
        self._secret = webhook_secret
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def plan(self, desired: OwnedSettings) -> Plan:
        """Read the integration and compare its owned fields with `desired` (no change made)."""
        live = self.client.get_integration(self.integration_id)
        return Plan(live.id, live.shop_name, live.owned, desired, desired.changes_from(live.owned))

    def start(self, desired: OwnedSettings, wait_seconds: float) -> AttemptState:
        """Persist a new attempt and run it in a background thread; returns at once."""
        attempt = self._new_attempt("apply", desired)
        thread = threading.Thread(
            target=self._run,
            args=(attempt, wait_seconds, None),
            name=f"bootstrap-{attempt.attempt_id[:8]}",
            daemon=True,
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return attempt

    def run(
        self, desired: OwnedSettings, wait_seconds: float, on_step: OnStep | None = None
    ) -> AttemptState:
        """Run a whole attempt in this thread (the CLI); returns its final state."""
        return self._run(self._new_attempt("apply", desired), wait_seconds, on_step)

    def undo(self, on_step: OnStep | None = None) -> AttemptState:
        """Restore the owned settings recorded before the last change (one PATCH)."""
        source = self.attempts.latest_with_previous(self.integration_id)
        if source is None or source.previous is None:
            raise NothingToUndo(
                "nothing to undo: no change by this service to integration "
                f"{self.integration_id} is recorded"
            )
        target = source.previous.restoring(null_url=self.client.v3)
        return self._run(self._new_attempt("undo", target), 0, on_step)

    def close(self) -> None:
        """Stop waiting threads and close the client's connections."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.client.close()

    def _new_attempt(self, kind: str, target: OwnedSettings) -> AttemptState:
        """Persist a new attempt; AttemptInProgress while another one is changing Sendcloud."""
        if kind == "apply" and (problems := target.problems(self._offered(target))):
            raise InvalidDesiredSettings(problems)
        current = self.attempts.latest(self.integration_id)
        if current is not None:
            self.watcher.evaluate(current)  # fails one whose process stopped, so it cannot block
        return self.attempts.create(self.integration_id, kind, target)

    def _offered(self, target: OwnedSettings) -> tuple[str, ...] | None:
        """The carriers Sendcloud offers this integration for service points, when `target`
        enables them; None when unreadable (then Sendcloud's answer to the PATCH will say)."""
        if not (target.service_point_enabled and target.service_point_carriers):
            return None
        try:
            return self.client.service_point_carriers(self.integration_id)
        except BootstrapError as exc:
            log.warning("carriers_unavailable integration_id=%s error=%s", self.integration_id, exc)
            return None

    def _run(self, attempt: AttemptState, wait: float, on_step: OnStep | None) -> AttemptState:
        aid = attempt.attempt_id
        progress = Progress(self.attempts, aid, on_step)
        try:
            self.attempts.update(aid, state="applying")
            self._steps(progress, attempt.kind == "undo", attempt.target, wait)
        except StorageUnavailable as exc:
            log.error("bootstrap_storage_unavailable attempt_id=%s error=%s", aid, exc)
            raise
        except Exception as exc:  # noqa: BLE001 (an unexpected one is logged by type and place)
            if not isinstance(exc, BootstrapError):
                # A background thread must leave a failed state behind, not die silently.
                # Type and place only: the message of an unexpected error may carry data.
                what = type(exc).__name__
                log.error(
                    "bootstrap_crashed attempt_id=%s error=%s where=%s", aid, what, where(exc)
                )
                exc = BootstrapError(f"unexpected error ({what})")
            log.warning("bootstrap_failed attempt_id=%s error=%s", aid, exc)
            progress.end("failed", str(exc))
            self.attempts.update(
                aid, only_from=UNFINISHED, state="failed", message=str(exc), hint=exc.hint
            )
        return self.attempts.get(aid)

    def _steps(self, progress: Progress, undo: bool, wanted: OwnedSettings, wait: float) -> None:
        """Every step of an apply, or of an undo (no pre-flight, no round trip to await)."""
        progress.begin("credentials")
        progress.end("done", self.client.check_credentials())
        progress.begin("integration_found", f"id {self.integration_id}")
        live = self.client.get_integration(self.integration_id)
        changes = wanted.changes_from(live.owned)
        names = ", ".join(c.name for c in changes) or "nothing (already configured)"
        progress.end(
            "done", f"{live.shop_name or 'integration'} (id {live.id}); to change: {names}"
        )
        url = wanted.webhook_url or ""
        if undo:
            progress.record("public_url_reachable", "skipped", "not needed to restore settings")
        else:
            progress.begin("public_url_reachable", url)
            progress.end("done", preflight(url, self._secret, progress.attempt_id))
        if changes:
            self._change(progress, wanted, None if undo else live.owned)
        else:
            said = "the recorded settings are already in place" if undo else "already configured"
            progress.record("change_applied", "skipped", said + ": nothing sent to Sendcloud")
            progress.record("read_back", "skipped", "the settings just read already match")
        if undo:
            proof: str | None = "not awaited: the webhook may point elsewhere now"
        elif not changes:
            proof = earlier_proof(
                wanted,
                self.attempts.latest_verified_apply(self.integration_id),
                self.events.latest_integration_state(self.integration_id),
            )
        else:
            proof = None
        if proof:
            now = datetime.now(UTC)
            self.attempts.update(progress.attempt_id, state="verified", since=now, verified_at=now)
            progress.record("webhook_received", "skipped", proof)
        else:
            self._await(progress, url, wait)

    def _change(
        self, progress: Progress, wanted: OwnedSettings, previous: OwnedSettings | None
    ) -> None:
        """Steps change applied + read back: record, PATCH, check the answer, GET and compare."""
        aid, iid = progress.attempt_id, self.integration_id
        if previous is not None:
            # Recorded before the PATCH, so an undo is possible even if we crash right after it.
            self.attempts.update(aid, previous=previous)
        progress.begin("change_applied", "PATCH " + ", ".join(wanted.patch_body()))
        # Deliveries count from just before the PATCH: Sendcloud may call us before it answers.
        now = datetime.now(UTC)
        self.attempts.update(aid, patched_at=now, since=now)
        said = self.client.patch_integration(iid, wanted)
        wrong = [c for c in wanted.changes_from(OwnedSettings.from_mapping(said)) if c.name in said]
        if wrong:
            raise ChangeNotApplied(
                f"Sendcloud accepted the change of integration {iid} but answered other values "
                "for: " + ", ".join(f"{c.name} = {c.current!r}" for c in wrong)
            )
        confirmed = ", ".join(name for name in wanted.patch_body() if name in said)
        # API v3 answers 204 without a body: the read-back below is the confirmation.
        progress.end(
            "done", f"Sendcloud confirmed {confirmed}" if said else "Sendcloud accepted it"
        )
        progress.begin("read_back")
        wrong = wanted.changes_from(self.client.get_integration(iid).owned)
        if wrong:
            raise ChangeNotApplied(
                f"reading integration {iid} back shows other values: "
                + ", ".join(f"{c.name} is {c.current!r}" for c in wrong)
            )
        progress.end("done", "the integration now has every value that was set")

    def _await(self, progress: Progress, url: str, wait: float) -> None:
        aid = progress.attempt_id
        deadline = datetime.now(UTC) + timedelta(seconds=wait)
        self.attempts.update(
            aid, only_from=("applying",), state="awaiting_webhook", deadline_at=deadline
        )
        progress.begin("webhook_received", f"waiting up to {wait:g} s for Sendcloud to call {url}")
        while not self._stop.is_set():
            attempt = self.watcher.evaluate(self.attempts.get(aid))
            if attempt.state != "awaiting_webhook":
                step = next(s for s in attempt.steps if s.name == "webhook_received")
                if progress.on_step:
                    progress.on_step(step.name, step.status, step.detail)
                return
            self.watcher.wait_for_delivery(POLL_SECONDS)
