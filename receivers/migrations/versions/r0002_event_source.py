"""Where a stored event came from: a signed webhook or the parcels API (reconciliation)."""

from __future__ import annotations

from receivers import tables
from receivers.migrations import add_missing_column

revision = "r0002"
down_revision = "r0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add webhook_events.source (existing rows came from webhooks)."""
    add_missing_column(tables.webhook_events, "source")
