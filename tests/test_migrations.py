"""The Alembic migrations and store/tables.py describe the same schema, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import synthloop
from synthloop.store.tables import metadata


def test_migrated_schema_matches_the_tables(db_url: str) -> None:
    store = synthloop.open(db_url)
    try:
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        store.close()
    assert diff == [], f"tables.py and the migrations disagree; add a migration: {diff}"


def test_opening_twice_is_a_no_op(db_url: str) -> None:
    synthloop.open(db_url).close()
    store = synthloop.open(db_url)
    try:
        assert store.datasets() == []
    finally:
        store.close()
