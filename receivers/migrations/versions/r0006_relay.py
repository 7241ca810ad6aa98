"""The relay: destinations and deliveries."""

from __future__ import annotations

from receivers.migrations import create_missing
from receivers.relay import tables

revision = "r0006"
down_revision = "r0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the relay's tables."""
    create_missing(tables.relay_destinations, tables.relay_deliveries)
