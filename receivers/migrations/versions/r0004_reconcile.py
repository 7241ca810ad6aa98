"""Reconciliation's progress: where the next run of the parcels list starts or resumes."""

from __future__ import annotations

from receivers import tables
from receivers.migrations import create_missing

revision = "r0004"
down_revision = "r0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create reconcile_marks."""
    create_missing(tables.reconcile_marks)
