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


def test_upgrading_keeps_what_the_store_held(db_url: str) -> None:
    """Each migration runs on a store holding records and responses, and keeps them."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from synthloop.store.engine import _MIGRATIONS, connect

    engine = connect(db_url)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text("INSERT INTO datasets (id, name, settings) VALUES (1, 'd', '{}')"))
        conn.execute(text("INSERT INTO users (id, username) VALUES (1, 'ann')"))
        conn.execute(
            text(
                "INSERT INTO records (id, dataset_id, external_id, content_hash, fields, metadata,"
                " provenance, source, status) VALUES (1, 1, 'a', 'h', '{}', '{}', '{}',"
                " 'imported', 'pending')"
            )
        )
        conn.execute(
            text(
                'INSERT INTO responses (record_id, user_id, "values", status)'
                " VALUES (1, 1, '{}', 'submitted')"
            )
        )
    engine.dispose()
    store = synthloop.open(db_url)  # upgrades to the newest migration
    try:
        with store.engine.connect() as conn:
            counts = [
                conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("records", "responses", "users")
            ]
    finally:
        store.close()
    assert counts == [1, 1, 1]
