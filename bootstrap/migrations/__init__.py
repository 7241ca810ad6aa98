"""Alembic revisions of the bootstrap's and the sandbox's tables (branch `bootstrap`)."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent
