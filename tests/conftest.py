"""Shared fixtures: a store on a real SQLite file or on a fresh PostgreSQL schema, and the
issue's dataset settings. Without a PostgreSQL server the postgres cases skip, except under
CI=true, where they fail."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import synthloop
from synthloop.demo import SETTINGS

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1/test?options=-csearch_path%3D{schema}"


@functools.cache
def _postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used (asked once per session), or None when it answers."""
    try:
        import psycopg

        with psycopg.connect(PG_DSN):
            return None
    except Exception as exc:  # psycopg missing, connection refused, timed out, auth...
        return f"PostgreSQL on 127.0.0.1:5432 (database 'test') is not usable: {exc}"


def _require_postgres() -> None:
    problem = _postgres_unavailable()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{problem} (CI=true: PostgreSQL tests must run)")
    pytest.skip(problem)


def _pg_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '30s'")
        conn.execute(sql)


@pytest.fixture
def new_postgres_url() -> Iterator[Callable[[], str]]:
    """Fresh PostgreSQL schemas on demand, each dropped after the test: for a test that needs
    another database besides `db_url`'s (tests import nothing from conftest: the browser tests'
    conftest shadows this module's name)."""
    schemas: list[str] = []

    def make() -> str:
        _require_postgres()
        schema = f"t_{uuid.uuid4().hex}"
        _pg_execute(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        return PG_URL.format(schema=schema)

    try:
        yield make
    finally:
        for schema in schemas:
            _pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a store lives: a SQLite file path, or a PostgreSQL URL on a schema of its own."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.db")
        return
    _require_postgres()
    schema = f"t_{uuid.uuid4().hex}"
    _pg_execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield PG_URL.format(schema=schema)
    finally:
        _pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def settings() -> synthloop.Settings:
    return synthloop.Settings.loads(SETTINGS)


@pytest.fixture
def store(db_url: str) -> Iterator[synthloop.Store]:
    store = synthloop.open(db_url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def dataset(store: synthloop.Store, settings: synthloop.Settings) -> synthloop.Dataset:
    return store.create_dataset("support", settings)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[synthloop.Store]:
    """For behaviour that does not depend on the database: the quick SQLite store only."""
    store = synthloop.open(tmp_path / "store.db")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def sqlite_dataset(
    sqlite_store: synthloop.Store, settings: synthloop.Settings
) -> synthloop.Dataset:
    return sqlite_store.create_dataset("support", settings)
