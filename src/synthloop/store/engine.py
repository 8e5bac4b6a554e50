"""Connecting to the store: URL resolution, SQLite pragmas, and schema migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from synthloop.errors import StoreError

__all__ = ["DEFAULT_DB", "connect", "json_text", "migrate", "reader", "resolve_url"]

DEFAULT_DB = "synthloop.db"
ENV_VAR = "SYNTHLOOP_DB"
_MIGRATIONS = Path(__file__).parent / "migrations"


def resolve_url(db: str | os.PathLike[str] | None = None) -> str:
    """`db` may be a SQLAlchemy URL or a path to a SQLite file; default: $SYNTHLOOP_DB, then
    ./synthloop.db."""
    value = os.fspath(db) if db is not None else os.environ.get(ENV_VAR) or DEFAULT_DB
    if "://" in value:
        if value.startswith("postgresql://"):  # the plain form means psycopg 3 to us
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value
    return f"sqlite:///{Path(value).expanduser()}"


def json_text(value: Any) -> str:
    """The JSON text the store keeps; bulk writers that bypass SQLAlchemy's JSON type use it too,
    so a value reads back the same whichever path wrote it."""
    return orjson.dumps(value).decode()


# PostgreSQL connections kept open for reuse. The server runs up to 40 handlers in threads at
# once (anyio's default); with SQLAlchemy's default of 5, each connection beyond the fifth was
# closed on its return and a new one opened for the next request: at 32 annotators, a new
# server backend for nearly every annotation. Connections are opened only when needed, so a
# command that uses one keeps one. (On SQLite the queue's handlers run on the event loop, and
# opening a connection is cheap.)
_POOL: dict[str, Any] = {"pool_size": 40, "max_overflow": 10}


def connect(db: str | os.PathLike[str] | None = None) -> Engine:
    url = resolve_url(db)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return create_engine(
            url,
            json_serializer=json_text,
            json_deserializer=orjson.loads,
            pool_pre_ping=True,
            **_POOL,
        )
    except (ArgumentError, ImportError) as exc:
        raise StoreError(
            f"cannot use database {url!r}: {exc}; give a path to a SQLite file or a URL such as "
            "postgresql+psycopg://localhost/synthloop (pip install 'synthloop[postgres]')"
        ) from None


def reader(engine: Engine) -> Connection:
    """A connection for one-statement reads, outside a transaction. On PostgreSQL that spares a
    BEGIN and a ROLLBACK round trip per read (the server looks the caller's token up on every
    request: 330 -> 190 us a lookup); SQLite's driver begins no transaction for a read anyway."""
    conn = engine.connect()
    if engine.dialect.name != "sqlite":
        conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


def _sqlite_json(value: Any) -> Any:
    # SQLite gives a column declared JSON numeric affinity, so a bare JSON number (a rating
    # suggestion's value) is stored, and read back, as a number rather than as text.
    return orjson.loads(value) if isinstance(value, str) else value


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, json_serializer=json_text, json_deserializer=_sqlite_json)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets annotators read while an import writes; NORMAL sync is durable at checkpoints
        # and crash-safe, which is what WAL needs; wait for a busy writer instead of failing.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration; cheap when it is already there."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        with engine.connect() as conn:
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise StoreError(
            f"cannot open the store at {engine.url!r}: {exc.orig}; check that the "
            "path is writable or the database server is running"
        ) from None
