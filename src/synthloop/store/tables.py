"""SQLAlchemy Core tables. The schema itself is owned by the Alembic migrations in migrations/;
a test checks that these definitions and the migrated database agree.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "datasets",
    "generation_cache",
    "leases",
    "memberships",
    "metadata",
    "records",
    "responses",
    "sessions",
    "suggestions",
    "users",
    "version_records",
    "versions",
]

# JSONB on PostgreSQL so later stages can query inside records; plain JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _updated() -> Column[object]:
    return Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now())


datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("settings", Json, nullable=False),
    _created(),
    _updated(),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(200), nullable=False, unique=True),
    Column("role", String(20), nullable=False, server_default="annotator"),
    Column("password_hash", String(255), nullable=True),  # argon2; None: cannot log in
    Column("token_hash", String(128), nullable=True),  # sha256 of the API token
    _created(),
    # An index, not a constraint: SQLite adds it without rebuilding the table.
    Index(None, "token_hash", unique=True),
)

# Which users work on which datasets (owners see every dataset).
memberships = Table(
    "memberships",
    metadata,
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    _created(),
)

# A record handed to an annotator until `expires_at`; at most one per (record, user).
leases = Table(
    "leases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("record_id", ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    _created(),
    UniqueConstraint("record_id", "user_id"),
    Index(None, "user_id", "expires_at"),
)

# A logged-in browser: the cookie holds the token, the store its sha256; state-changing requests
# must also carry `csrf_token`, which a page embeds and a cross-site form cannot read.
sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    _created(),
)

records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("external_id", String(500), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("fields", Json, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("provenance", Json, nullable=False),
    Column("source", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    Column("priority", Float, nullable=False, server_default="0"),
    Column("final", Json, nullable=True),
    _created(),
    _updated(),
    UniqueConstraint("dataset_id", "external_id"),
    Index(None, "dataset_id", "source"),
)
# The queue's order (highest priority, then lowest id) among a dataset's records of a status:
# leasing walks it from the best record and stops at the first with room.
Index(
    "ix_records_queue_order",
    records.c.dataset_id,
    records.c.status,
    records.c.priority.desc(),
    records.c.id,
)

suggestions = Table(
    "suggestions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("record_id", ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("question", String(200), nullable=False),
    Column("value", Json, nullable=False),
    Column("score", Float, nullable=True),
    Column("agent", String(200), nullable=True),
    _created(),
    UniqueConstraint("record_id", "question"),
)

responses = Table(
    "responses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("record_id", ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("values", Json, nullable=False),
    Column("status", String(20), nullable=False),
    Column("duration", Float, nullable=True),
    _created(),
    _updated(),
    UniqueConstraint("record_id", "user_id"),
    Index(None, "user_id", "status"),
)

versions = Table(
    "versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("settings", Json, nullable=False),
    Column("guidelines", Text, nullable=False),
    Column("aggregation", String(100), nullable=False),
    Column("round", Integer, nullable=False, server_default="0"),
    Column("record_count", Integer, nullable=False),
    Column("path", Text, nullable=True),
    _created(),
    Column("tag", String(200), nullable=True),
    Column("guidelines_hash", String(64), nullable=False, server_default=""),
    Column("counts", Json, nullable=True),  # records by source (export/versions.py)
    UniqueConstraint("dataset_id", "number"),
    # An index, not a constraint: SQLite adds it without rebuilding the table. NULLs repeat.
    Index(None, "dataset_id", "tag", unique=True),
)

# A version's frozen records: each record's JSON as it was when the version was made, so later
# edits to the live record never reach a version (export/versions.py).
version_records = Table(
    "version_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("external_id", String(500), nullable=False),
    Column("record", Json, nullable=False),
    UniqueConstraint("version_id", "external_id"),
)

# Answers of completed generation requests by the sha256 of the request (generate/cache.py).
# The completion is JSON text, not Json: it is only ever read back whole.
generation_cache = Table(
    "generation_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("completion", Text, nullable=False),
    _created(),
)
