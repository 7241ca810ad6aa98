"""The tables of bootstrap attempts and their steps, and their migrations."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bootstrap.attempts.state import ACTIVE
from receivers.migrations import Migration, UtcDateTime, create_tables

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


def _enforce_one_active_attempt(conn: Connection) -> None:
    """Fail all but the newest active attempt per integration (left by races), then index.

    The database, not a per-process lock, lets one attempt at a time change Sendcloud:
    workers and instances starting at the same instant race on this index and one wins.
    """
    newer = attempts.alias("newer")
    conn.execute(
        attempts.update()
        .where(
            attempts.c.state.in_(ACTIVE),
            sa.exists().where(
                newer.c.integration_id == attempts.c.integration_id,
                newer.c.state.in_(ACTIVE),
                sa.or_(
                    newer.c.started_at > attempts.c.started_at,
                    sa.and_(
                        newer.c.started_at == attempts.c.started_at, newer.c.id > attempts.c.id
                    ),
                ),
            ),
        )
        .values(state="failed", message="interrupted: another attempt started at the same time")
    )
    # Plain DDL, not an sa.Index on the table: that would also change what v1 creates.
    conn.execute(
        sa.text(
            "CREATE UNIQUE INDEX IF NOT EXISTS uq_bootstrap_attempts_active "
            "ON bootstrap_attempts (integration_id) WHERE state IN ('planned', 'applying')"
        )
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration("bootstrap", 1, create_tables(attempts, steps)),
    Migration("bootstrap", 2, _enforce_one_active_attempt),
)
