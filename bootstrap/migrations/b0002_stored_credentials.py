"""The Sendcloud keys entered on the onboarding page (encrypted)."""

from __future__ import annotations

from bootstrap.keys.tables import stored_credentials
from receivers.migrations import create_missing

revision = "b0002"
down_revision = "b0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table of stored keys."""
    create_missing(stored_credentials)
