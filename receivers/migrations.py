"""Schema building blocks of every package: versioned migrations, core tables, column types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

metadata = sa.MetaData()

schema_versions = sa.Table(
    "schema_versions",
    metadata,
    sa.Column("component", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

# Values generated once and shared by every worker and instance (onboarding token,
# Flask secret key, sandbox credentials). Written with insert-or-ignore so the first
# writer wins and everyone reads the same value.
stored_values = sa.Table(
    "stored_values",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both PostgreSQL (timestamptz) and SQLite (text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Store UTC; SQLite keeps no offset, so store it naive there."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Always hand back an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Migration:
    """One versioned schema step of one component; `apply` runs inside the upgrade transaction."""

    component: str
    version: int
    apply: Callable[[Connection], None]


def create_tables(*tables: sa.Table) -> Callable[[Connection], None]:
    """Return a migration step that creates the given tables and their indexes."""

    def apply(conn: Connection) -> None:
        for table in tables:
            table.create(conn, checkfirst=True)

    return apply


CORE_MIGRATIONS: tuple[Migration, ...] = (Migration("core", 1, create_tables(stored_values)),)
