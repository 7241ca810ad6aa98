"""The receiver's tables (SQLAlchemy Core); their migrations are in receivers/migrations/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# Alembic revisions of these tables (the `receivers` branch); app.py upgrades every branch.
MIGRATIONS = Path(__file__).with_name("migrations") / "versions"

metadata = sa.MetaData()


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


# Values generated once and shared by every worker and instance (onboarding token,
# Flask secret key, sandbox credentials). Written with insert-or-ignore so the first
# writer wins and everyone reads the same value.
stored_values = sa.Table(
    "stored_values",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Primary keys: BIGINT (BIGSERIAL when generated) on PostgreSQL. On SQLite only a column
# declared exactly INTEGER is the rowid: AUTOINCREMENT needs it, and any other key type
# gets a second b-tree, one more page written to the WAL per commit.
_RowidKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# Every correctly signed delivery, byte for byte (new API keys: secret redacted, see
# receivers/schemas.py `storable`). `event_hash` (SHA-256 of the bytes as received)
# is the de-duplication key: Sendcloud sends no event id and retries for hours.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", _RowidKey, primary_key=True, autoincrement=True),
    sa.Column("event_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("received_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("event_timestamp", sa.BigInteger, nullable=True),
    sa.Column("integration_id", sa.BigInteger, nullable=True),
    sa.Column("parcel_id", sa.BigInteger, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("signing_key", sa.String(16), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    # "webhook" (a signed Sendcloud delivery) or "reconciliation" (read from the parcels API).
    sa.Column("source", sa.String(16), nullable=False, server_default="webhook"),
)

# The newest applied status per parcel (see README: ordering and tie-break).
parcel_states = sa.Table(
    "parcel_states",
    metadata,
    sa.Column("parcel_id", _RowidKey, primary_key=True, autoincrement=False),
    sa.Column("event_timestamp", sa.BigInteger, nullable=False),
    sa.Column("carrier_timestamp", sa.BigInteger, nullable=True),
    sa.Column("status_id", sa.BigInteger, nullable=False),
    sa.Column("status_message", sa.Text, nullable=True),
    sa.Column("tracking_number", sa.Text, nullable=True),
    sa.Column("event_hash", sa.String(64), nullable=False),
)

# The newest integration settings Sendcloud told us about (drift detection).
integration_states = sa.Table(
    "integration_states",
    metadata,
    sa.Column("integration_id", _RowidKey, primary_key=True, autoincrement=False),
    sa.Column("event_timestamp", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("webhook_url", sa.Text, nullable=True),
    sa.Column("webhook_active", sa.Boolean, nullable=True),
    sa.Column("service_point_enabled", sa.Boolean, nullable=True),
    sa.Column("service_point_carriers", sa.Text, nullable=False),  # JSON list of codes
    sa.Column("event_hash", sa.String(64), nullable=False),
)

# Refused deliveries by cause, shared by every worker and instance.
signature_rejections = sa.Table(
    "signature_rejections",
    metadata,
    sa.Column("cause", sa.String(40), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at", UtcDateTime(), nullable=False),
)

# Where reconciliation against Sendcloud's parcels list stands (one row, name "parcels").
reconcile_marks = sa.Table(
    "reconcile_marks",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    # The next run reads parcels updated after this (moved on only when a run completes).
    sa.Column("updated_after", UtcDateTime(), nullable=True),
    # An unfinished run: the page after the last one fully recorded, and when the run began.
    sa.Column("resume_url", sa.Text, nullable=True),
    sa.Column("run_started_at", UtcDateTime(), nullable=True),
    sa.Column("last_run_at", UtcDateTime(), nullable=True),
    sa.Column("last_kind", sa.String(16), nullable=True),
    sa.Column("last_read", sa.BigInteger, nullable=True),
    sa.Column("last_corrected", sa.BigInteger, nullable=True),
)
