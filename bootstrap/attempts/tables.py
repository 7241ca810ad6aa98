"""The tables of bootstrap attempts and their steps (migrations: bootstrap/migrations/)."""

from __future__ import annotations

import sqlalchemy as sa

from bootstrap.attempts.state import ACTIVE
from receivers.tables import UtcDateTime

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

# The database, not a per-process lock, lets one attempt at a time change Sendcloud:
# workers and instances starting at the same instant race on this index and one wins.
one_active = sa.Index(
    "uq_bootstrap_attempts_active",
    attempts.c.integration_id,
    unique=True,
    sqlite_where=attempts.c.state.in_(ACTIVE),
    postgresql_where=attempts.c.state.in_(ACTIVE),
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
