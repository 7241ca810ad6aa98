"""Bootstrap attempts and their steps, persisted so every worker and restart sees the same state."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from bootstrap.attempt_state import STEPS, AttemptState, Step, utcnow
from receivers.db import Database, Migration, create_tables


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on PostgreSQL and SQLite alike (SQLite stores no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

attempts = sa.Table(
    "bootstrap_attempts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("integration_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # apply | undo
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("target", sa.Text, nullable=False),  # JSON: owned fields this attempt sets
    sa.Column("previous", sa.Text),  # JSON: owned fields before the change (for undo)
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("patched_at", UtcDateTime),
    # Deliveries received from this moment on count for the round trip.
    sa.Column("since", UtcDateTime),
    sa.Column("deadline_at", UtcDateTime),
    sa.Column("verified_at", UtcDateTime),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("hint", sa.Text),
    sa.Index("ix_bootstrap_attempts_latest", "integration_id", "started_at"),
)

steps = sa.Table(
    "bootstrap_steps",
    metadata,
    sa.Column("attempt_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending|running|done|failed|skipped
    sa.Column("detail", sa.Text, nullable=False, default=""),
)

MIGRATIONS: tuple[Migration, ...] = (Migration("bootstrap", 1, create_tables(attempts, steps)),)


class AttemptStore:
    """Reads and writes attempts; state changes are conditional so workers never fight."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, integration_id: int, kind: str, target: dict[str, Any]) -> AttemptState:
        """A new attempt in state `planned` with every step pending."""
        attempt_id = uuid.uuid4().hex
        now = utcnow()
        with self.db.begin_write() as conn:
            conn.execute(
                attempts.insert().values(
                    id=attempt_id,
                    integration_id=integration_id,
                    kind=kind,
                    state="planned",
                    target=json.dumps(target),
                    started_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                steps.insert(),
                [
                    {"attempt_id": attempt_id, "name": n, "position": i, "status": "pending"}
                    for i, (n, _) in enumerate(STEPS)
                ],
            )
        found = self.get(attempt_id)
        assert found is not None  # noqa: S101 (just written in a committed transaction)
        return found

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
        if "previous" in values and values["previous"] is not None:
            values["previous"] = json.dumps(values["previous"])
        query = attempts.update().where(attempts.c.id == attempt_id)
        if only_from:
            query = query.where(attempts.c.state.in_(only_from))
        with self.db.begin_write() as conn:
            result = conn.execute(query.values(updated_at=utcnow(), **values))
            return bool(result.rowcount)

    def get(self, attempt_id: str) -> AttemptState | None:
        """One attempt with its steps."""
        return self._one(attempts.c.id == attempt_id)

    def latest(self, integration_id: int) -> AttemptState | None:
        """The most recently started attempt for the integration."""
        return self._one(attempts.c.integration_id == integration_id)

    def latest_verified_apply(self, integration_id: int) -> AttemptState | None:
        """The newest apply attempt whose round trip was proven."""
        return self._one(
            attempts.c.integration_id == integration_id,
            attempts.c.kind == "apply",
            attempts.c.verified_at.is_not(None),
        )

    def latest_with_previous(self, integration_id: int) -> AttemptState | None:
        """The newest apply attempt that recorded previous settings and sent its PATCH."""
        return self._one(
            attempts.c.integration_id == integration_id,
            attempts.c.kind == "apply",
            attempts.c.previous.is_not(None),
            attempts.c.patched_at.is_not(None),
        )

    def _one(self, *where: Any) -> AttemptState | None:
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
        return AttemptState(
            attempt_id=row.id,
            integration_id=row.integration_id,
            kind=row.kind,
            state=row.state,
            target=json.loads(row.target),
            previous=json.loads(row.previous) if row.previous else None,
            steps=tuple(Step(s.name, s.status, s.detail or "") for s in step_rows),
            started_at=row.started_at,
            patched_at=row.patched_at,
            since=row.since,
            deadline_at=row.deadline_at,
            verified_at=row.verified_at,
            message=row.message,
            hint=row.hint,
        )
