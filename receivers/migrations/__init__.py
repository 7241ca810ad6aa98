"""Alembic's env.py for every package (each keeps its revisions), and the helpers that keep
revisions idempotent, so databases made before Alembic upgrade like fresh ones."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def create_missing(*tables: sa.Table) -> None:
    """Create each of `tables` (with its indexes) unless it exists."""
    for table in tables:
        table.create(op.get_bind(), checkfirst=True)


def add_missing_column(table: sa.Table, name: str) -> None:
    """Add `table`'s column `name` as currently defined, unless the table has it already."""
    if name in {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table.name)}:
        return
    column = table.c[name]
    default = getattr(column.server_default, "arg", None)
    op.add_column(
        table.name, sa.Column(name, column.type, nullable=column.nullable, server_default=default)
    )
