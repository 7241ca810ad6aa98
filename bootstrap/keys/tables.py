"""The one row of Sendcloud keys entered on the page (migration: bootstrap/migrations/b0002)."""

from __future__ import annotations

import sqlalchemy as sa

from receivers.tables import UtcDateTime

metadata = sa.MetaData()

# Keys are Fernet tokens, never plain text. No integration yet: keys checked, shop not picked.
stored_credentials = sa.Table(
    "stored_credentials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),  # always 1
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("secret_key", sa.Text, nullable=False),
    sa.Column("auth", sa.String(8), nullable=False),
    sa.Column("integration_id", sa.BigInteger),
    sa.Column("public_url", sa.Text),
    # The replaced secret, still accepted for webhook signatures until `previous_until`.
    sa.Column("previous_secret", sa.Text),
    sa.Column("previous_until", UtcDateTime()),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
