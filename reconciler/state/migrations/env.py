"""Alembic environment: nbjobs runs migrations programmatically on a connection it hands over."""

from __future__ import annotations

from alembic import context

from reconciler.state.tables import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
