"""Alembic's environment: migrations run on the connection Database.upgrade already holds."""

from __future__ import annotations

from alembic import context

# Database.upgrade passes its connection, inside a transaction that holds the upgrade lock,
# so concurrent starts of workers and instances apply each revision once.
context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
