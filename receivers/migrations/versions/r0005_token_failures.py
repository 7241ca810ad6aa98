"""Wrong operator tokens per client, shared by every worker and instance."""

from __future__ import annotations

from receivers import tables
from receivers.migrations import create_missing

revision = "r0005"
down_revision = "r0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create token_failures."""
    create_missing(tables.token_failures)
