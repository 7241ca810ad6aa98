"""The bootstrap's and the sandbox's tables as they were when Alembic took over."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bootstrap.attempts import tables as attempt_tables
from bootstrap.attempts.state import ACTIVE
from bootstrap.sandbox import tables as sandbox_tables
from receivers.migrations import add_missing_column, create_missing

revision = "b0001"
down_revision = None
branch_labels = ("bootstrap",)
depends_on = None


def upgrade() -> None:
    """Create the attempts and the sandbox; one active attempt per integration."""
    attempts = attempt_tables.attempts
    create_missing(attempts, attempt_tables.steps, *sandbox_tables.metadata.sorted_tables)
    add_missing_column(sandbox_tables.faults, "silent_api_changes")
    # Attempts left active side by side by a race before the unique index existed: the newest
    # stays, so the index can be built.
    newer = attempts.alias("newer")
    op.get_bind().execute(
        attempts.update()
        .where(
            attempts.c.state.in_(ACTIVE),
            sa.exists().where(
                newer.c.integration_id == attempts.c.integration_id,
                newer.c.state.in_(ACTIVE),
                sa.tuple_(newer.c.started_at, newer.c.id)
                > sa.tuple_(attempts.c.started_at, attempts.c.id),
            ),
        )
        .values(state="failed", message="interrupted: another attempt started at the same time")
    )
    attempt_tables.one_active.create(op.get_bind(), checkfirst=True)
