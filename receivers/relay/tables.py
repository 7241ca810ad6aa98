"""The relay's tables: destinations (with a cursor into webhook_events) and deliveries."""

from __future__ import annotations

import sqlalchemy as sa

from receivers.tables import UtcDateTime, _RowidKey, metadata

# One row per system the shop wants the events in. `cursor` is the id of the newest
# webhook_events row this destination's deliveries were made for (fan-out reads past it).
relay_destinations = sa.Table(
    "relay_destinations",
    metadata,
    sa.Column("id", _RowidKey, primary_key=True, autoincrement=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("actions", sa.Text, nullable=True),  # JSON list; NULL = every recognised action
    sa.Column("include_stale", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("include_unrecognised", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("previous_secret", sa.Text, nullable=True),
    sa.Column("previous_until", UtcDateTime(), nullable=True),
    sa.Column("cursor", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("failing_since", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# One row per event per destination. `next_attempt_at` is the durable retry schedule and
# `claimed_until` the lease of the relay process sending it (expired = the sender died).
relay_deliveries = sa.Table(
    "relay_deliveries",
    metadata,
    sa.Column("id", _RowidKey, primary_key=True, autoincrement=True),
    sa.Column("destination_id", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.BigInteger, nullable=True),  # NULL: a test delivery (`body`)
    sa.Column("parcel_id", sa.BigInteger, nullable=True),
    sa.Column("webhook_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending, retrying, delivered, failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("claimed_until", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=True),
    # JSON list of the attempts: at, status_code, latency_ms, error (at most 1 KB of the answer).
    sa.Column("log", sa.Text, nullable=False, server_default="[]"),
    sa.UniqueConstraint("destination_id", "event_id", name="uq_relay_delivery_event"),
    sa.Index("ix_relay_deliveries_due", "destination_id", "state", "next_attempt_at"),
    sa.Index("ix_relay_deliveries_parcel", "destination_id", "parcel_id", "event_id"),
    sa.Index("ix_relay_deliveries_event", "event_id"),
)
