"""integration_credentials bodies stored before the receiver knew them lose their secret key."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receivers.schemas import CREDENTIALS_ACTION, classify_body, storable
from receivers.tables import webhook_events

revision = "r0003"
down_revision = "r0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Rewrite each such body as the receiver stores it now (a redacted body stays as it is)."""
    events = webhook_events.c
    conn = op.get_bind()
    found = sa.select(events.id, events.body).where(events.action == CREDENTIALS_ACTION)
    for event_id, stored in conn.execute(found).all():
        body, _ = storable(bytes(stored), *classify_body(bytes(stored)))
        if body != bytes(stored):
            conn.execute(sa.update(webhook_events).where(events.id == event_id).values(body=body))
