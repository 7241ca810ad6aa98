"""The sandbox's own tables in the shared database, so every worker sees one Sendcloud."""

from __future__ import annotations

import time

import sqlalchemy as sa

metadata = sa.MetaData()


def now_ms() -> int:
    """Milliseconds since the epoch: how these tables store time, and Sendcloud's `timestamp`."""
    return time.time_ns() // 1_000_000


integrations = sa.Table(
    "sandbox_integrations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("shop_name", sa.String(250), nullable=False),
    sa.Column("shop_url", sa.Text, nullable=True),
    sa.Column("system", sa.String(50), nullable=False),
    sa.Column("failing_since", sa.String(40), nullable=True),
    sa.Column("last_fetch", sa.String(40), nullable=True),
    sa.Column("last_updated_at", sa.String(40), nullable=False),
    sa.Column("service_point_enabled", sa.Boolean, nullable=False),
    sa.Column("service_point_carriers", sa.Text, nullable=False),  # JSON array
    sa.Column("webhook_active", sa.Boolean, nullable=False),
    sa.Column("webhook_url", sa.Text, nullable=True),
    # The panel setting "Use OAuth2 authentication": Basic auth fails once it is ticked.
    sa.Column("oauth2_only", sa.Boolean, nullable=False),
)

# API keys outlive a deleted integration here, so a client can observe the 404 afterwards.
clients = sa.Table(
    "sandbox_clients",
    metadata,
    sa.Column("public_key", sa.String(200), primary_key=True),
    sa.Column("secret_key", sa.String(200), nullable=False),
    sa.Column("integration_id", sa.Integer, nullable=False),
)

# Only a hash of each access token is kept; the token itself exists only in the response.
tokens = sa.Table(
    "sandbox_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("public_key", sa.String(200), nullable=False),
    sa.Column("scope", sa.String(200), nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
)

requests_log = sa.Table(
    "sandbox_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("auth", sa.String(20), nullable=False),
    sa.Column("client_id", sa.String(200), nullable=True),
    sa.Column("body", sa.Text, nullable=True),  # JSON of the parsed body, or null
    sa.Column("form", sa.Text, nullable=True),  # JSON of the form fields minus secrets
    sa.Column("status", sa.Integer, nullable=False),
)

# One row (id 1): the switches of fault injection, read by every worker.
faults = sa.Table(
    "sandbox_faults",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("rate_limit", sa.Boolean, nullable=False),
    sa.Column("fail_next", sa.Integer, nullable=False),
    sa.Column("fail_status", sa.Integer, nullable=False),
    sa.Column("fail_body", sa.Text, nullable=False),
    sa.Column("fail_path", sa.Text, nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("drop_webhooks", sa.Integer, nullable=False),
    sa.Column("silent_api_changes", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Unsafe requests of the last minute, counted across workers for the rate limit.
unsafe_hits = sa.Table(
    "sandbox_unsafe_hits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False, index=True),
)

outbox = sa.Table(
    "sandbox_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the exact bytes sent (ASCII: ensure_ascii)
    sa.Column("signature", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("due_ms", sa.BigInteger, nullable=False),
    sa.Column("claimed_until_ms", sa.BigInteger, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

deliveries = sa.Table(
    "sandbox_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("outbox_id", sa.Integer, nullable=False, index=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)
