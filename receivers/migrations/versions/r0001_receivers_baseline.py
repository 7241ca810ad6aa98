"""The receiver's tables as they were when Alembic took over (created where missing)."""

from __future__ import annotations

from receivers import tables
from receivers.migrations import create_missing

revision = "r0001"
down_revision = None
branch_labels = ("receivers",)
depends_on = None


def upgrade() -> None:
    """Create the stored values, deliveries, states and rejection counters."""
    create_missing(
        tables.stored_values,
        tables.webhook_events,
        tables.parcel_states,
        tables.integration_states,
        tables.signature_rejections,
    )
