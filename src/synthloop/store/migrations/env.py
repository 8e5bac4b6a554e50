"""Alembic environment: synthloop always hands in its own connection (see store/engine.py)."""

from alembic import context

from synthloop.store.tables import metadata

connection = context.config.attributes["connection"]
# Batch mode lets later migrations alter SQLite tables, which cannot ALTER most things in place.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
