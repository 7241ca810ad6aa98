"""The receiver's tables (SQLAlchemy Core) and their versioned migrations."""

from __future__ import annotations

import sqlalchemy as sa

from receivers.migrations import Migration, UtcDateTime, create_tables

metadata = sa.MetaData()

# Primary keys: BIGINT (BIGSERIAL when generated) on PostgreSQL. On SQLite only a column
# declared exactly INTEGER is the rowid: AUTOINCREMENT needs it, and any other key type
# gets a second b-tree, one more page written to the WAL per commit.
_RowidKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# Every correctly signed delivery, byte for byte. `event_hash` (SHA-256 of the raw body)
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


def _key_state_tables_by_rowid(conn: sa.Connection) -> None:
    """v2, SQLite only: rebuild the state tables created with a BIGINT key (v1) on the rowid.

    Each parcel event then writes 4 pages to the WAL instead of 5 (README, *Benchmark*).
    Databases created since v2 already have this shape, and PostgreSQL is unaffected.
    """
    if conn.dialect.name != "sqlite":
        return
    for table in (parcel_states, integration_states):
        autoindex = f"sqlite_autoindex_{table.name}_1"
        found = conn.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :n"),
            {"n": autoindex},
        ).first()
        if found is None:
            continue
        old = f"{table.name}_v1"
        columns = ", ".join(f'"{c.name}"' for c in table.columns)
        conn.execute(sa.text(f'ALTER TABLE "{table.name}" RENAME TO "{old}"'))
        table.create(conn)
        conn.execute(
            sa.text(f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM "{old}"')  # noqa: S608 (names from the metadata)
        )
        conn.execute(sa.text(f'DROP TABLE "{old}"'))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "receivers",
        1,
        create_tables(webhook_events, parcel_states, integration_states, signature_rejections),
    ),
    Migration("receivers", 2, _key_state_tables_by_rowid),
)
