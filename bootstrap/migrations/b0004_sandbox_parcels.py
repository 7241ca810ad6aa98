"""The sandbox's parcels (its GET /parcels) and a Retry-After on forced failures."""

from __future__ import annotations

from bootstrap.sandbox import tables
from receivers.migrations import add_missing_column, create_missing

revision = "b0004"
down_revision = "b0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create sandbox_parcels; add sandbox_faults.retry_after."""
    create_missing(tables.parcels)
    add_missing_column(tables.faults, "retry_after")
