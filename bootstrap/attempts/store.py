"""Bootstrap attempts and their steps, persisted so every worker and restart sees the same state."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bootstrap.attempts.state import ACTIVE, STEPS, AttemptState, Step
from bootstrap.attempts.tables import attempts, steps
from bootstrap.errors import AttemptInProgress
from bootstrap.owned import OwnedSettings
from receivers.db import Database

log = logging.getLogger(__name__)

# (step name, status, detail): the CLI prints these as they happen.
OnStep = Callable[[str, str, str], None]


class AttemptStore:
    """Reads and writes attempts; state changes are conditional so workers never fight."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # Called once per attempt that becomes verified, by the process that made it so.
        self.on_verified: list[Callable[[], None]] = []

    def create(self, integration_id: int, kind: str, target: OwnedSettings) -> AttemptState:
        """A new `planned` attempt, steps pending; AttemptInProgress if another one is active."""
        attempt_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        with self.db.begin_write() as conn:
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT through SQLAlchemy.
            inserted = conn.execute(
                self.db.insert_ignore(attempts)
                .values(
                    id=attempt_id,
                    integration_id=integration_id,
                    kind=kind,
                    state="planned",
                    target=json.dumps(target.to_json()),
                    started_at=now,
                    updated_at=now,
                )
                .returning(attempts.c.id)
            ).first()
            if inserted is None:
                active = conn.execute(
                    sa.select(attempts.c.id).where(
                        attempts.c.integration_id == integration_id, attempts.c.state.in_(ACTIVE)
                    )
                ).scalar()
                raise AttemptInProgress(
                    f"a bootstrap of integration {integration_id} is already applying its "
                    f"change (attempt {active}); wait for it to finish"
                )
            conn.execute(
                steps.insert(),
                [
                    {"attempt_id": attempt_id, "name": n, "position": i, "status": "pending"}
                    for i, (n, _) in enumerate(STEPS)
                ],
            )
        return self.get(attempt_id)

    def set_step(self, attempt_id: str, name: str, status: str, detail: str = "") -> None:
        """Record the status of one step."""
        with self.db.begin_write() as conn:
            conn.execute(
                steps.update()
                .where(steps.c.attempt_id == attempt_id, steps.c.name == name)
                .values(status=status, detail=detail)
            )

    def update(self, attempt_id: str, only_from: tuple[str, ...] = (), **values: Any) -> bool:
        """Change columns; with `only_from`, only while the state is one of those. True if done."""
        if isinstance(values.get("previous"), OwnedSettings):
            values["previous"] = json.dumps(values["previous"].to_json())
        query = attempts.update().where(attempts.c.id == attempt_id)
        if only_from:
            query = query.where(attempts.c.state.in_(only_from))
        with self.db.begin_write() as conn:
            done = bool(conn.execute(query.values(updated_at=datetime.now(UTC), **values)).rowcount)
        for listener in self.on_verified if done and values.get("state") == "verified" else ():
            listener()
        return done

    def get(self, attempt_id: str) -> AttemptState:
        """One attempt with its steps (attempts are never deleted)."""
        found = self._newest(attempts.c.id == attempt_id)
        if found is None:
            raise LookupError(f"no bootstrap attempt {attempt_id}")
        return found

    def latest(self, integration_id: int) -> AttemptState | None:
        """The most recently started attempt for the integration."""
        return self._newest(attempts.c.integration_id == integration_id)

    def latest_verified_apply(self, integration_id: int) -> AttemptState | None:
        """The newest apply attempt whose round trip was proven."""
        return self._newest(
            attempts.c.integration_id == integration_id,
            attempts.c.kind == "apply",
            attempts.c.verified_at.is_not(None),
        )

    def latest_applied(self, integration_id: int) -> AttemptState | None:
        """The newest apply attempt whose change Sendcloud accepted or already had in place."""
        return self._newest(
            attempts.c.integration_id == integration_id,
            attempts.c.kind == "apply",
            sa.exists().where(
                steps.c.attempt_id == attempts.c.id,
                steps.c.name == "change_applied",
                steps.c.status.in_(("done", "skipped")),
            ),
        )

    def latest_with_previous(self, integration_id: int) -> AttemptState | None:
        """The newest apply attempt that recorded previous settings and sent its PATCH."""
        return self._newest(
            attempts.c.integration_id == integration_id,
            attempts.c.kind == "apply",
            attempts.c.previous.is_not(None),
            attempts.c.patched_at.is_not(None),
        )

    def _newest(self, *where: Any) -> AttemptState | None:
        with self.db.begin_read() as conn:
            row = conn.execute(
                sa.select(attempts)
                .where(*where)
                .order_by(attempts.c.started_at.desc(), attempts.c.id.desc())
                .limit(1)
            ).one_or_none()
            if row is None:
                return None
            step_rows = conn.execute(
                sa.select(steps.c.name, steps.c.status, steps.c.detail)
                .where(steps.c.attempt_id == row.id)
                .order_by(steps.c.position)
            ).all()
        previous = json.loads(row.previous) if row.previous else None
        return AttemptState(
            attempt_id=row.id,
            integration_id=row.integration_id,
            kind=row.kind,
            state=row.state,
            target=OwnedSettings.from_mapping(json.loads(row.target)),
            previous=OwnedSettings.from_mapping(previous) if previous else None,
            steps=tuple(Step(s.name, s.status, s.detail or "") for s in step_rows),
            started_at=row.started_at,
            patched_at=row.patched_at,
            since=row.since,
            deadline_at=row.deadline_at,
            verified_at=row.verified_at,
            message=row.message,
            hint=row.hint,
        )


class Progress:
    """The step an attempt is on, recorded as it happens; a failure lands on that step."""

    def __init__(self, store: AttemptStore, attempt_id: str, on_step: OnStep | None) -> None:
        self.store = store
        self.attempt_id = attempt_id
        self.on_step = on_step
        self.current: str | None = None

    def begin(self, name: str, detail: str = "") -> None:
        """Mark `name` running."""
        self.current = name
        self.record(name, "running", detail)

    def end(self, status: str, detail: str) -> None:
        """Mark the current step `done` or `failed`."""
        if self.current:
            self.record(self.current, status, detail)
            self.current = None

    def record(self, name: str, status: str, detail: str) -> None:
        """Store one step's status (e.g. `skipped`: not needed this time) and announce it."""
        self.store.set_step(self.attempt_id, name, status, detail)
        log.info("bootstrap_step attempt_id=%s step=%s status=%s", self.attempt_id, name, status)
        if self.on_step:
            self.on_step(name, status, detail)
