"""Backup and restore of a whole store, between SQLite and PostgreSQL in either direction.

A backup is a folder: one JSONL file per table, rows with their store ids so every reference
(a response's user, a frozen record's version) survives as it was, and a manifest.json with the
format version, the synthloop version, the row counts and the sha256 of each file. Restoring
checks every hash before it writes, refuses a store that already holds anything, and writes in
one transaction, so a restore either lands whole or not at all.

Leases and browser sessions are not kept: both expire within hours and a restored store starts
with none. Password and API token hashes are kept, so logins survive; a backup is a secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Table, func, insert, select, text

from synthloop.errors import SynthloopError
from synthloop.store import tables as t
from synthloop.store.store import Store

__all__ = ["FORMAT", "BackupError", "BackupReport", "backup", "restore"]

FORMAT = 1
MANIFEST = "manifest.json"
# Parents before children, so a restore never inserts a row before the row it points to.
_TABLES: tuple[Table, ...] = (
    t.users,
    t.datasets,
    t.memberships,
    t.records,
    t.suggestions,
    t.responses,
    t.versions,
    t.version_records,
    t.generation_cache,
)
_BATCH = 1000


class BackupError(SynthloopError):
    """A backup that cannot be written or restored: a bad folder, a hash mismatch, a full store."""


@dataclass
class BackupReport:
    """What a backup wrote or a restore read: rows per table, and where."""

    path: Path
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "counts": self.counts}


# ---------------------------------------------------------------- backup


def backup(store: Store, out: Path, *, cache: bool = True) -> BackupReport:
    """Write every table of `store` to the folder `out` (created; must be empty or absent).

    `cache`: also keep the generation cache (answers of past LLM requests), which only saves
    the cost of asking again."""
    out = Path(out)
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    report = BackupReport(out)
    files: dict[str, dict[str, Any]] = {}
    # One transaction so the files agree with each other while writers carry on.
    with store.engine.begin() as conn:
        for table in _TABLES:
            if table is t.generation_cache and not cache:
                continue
            rows, digest = _write_table(conn, table, out / f"{table.name}.jsonl")
            files[str(table.name)] = {"file": f"{table.name}.jsonl", "rows": rows, "sha256": digest}
            report.counts[str(table.name)] = rows
    manifest = {
        "format": FORMAT,
        "synthloop_version": _version(),
        "created_at": datetime.now(UTC).isoformat(),
        "source": store.engine.dialect.name,
        "tables": files,
    }
    (out / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return report


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(
            f"backup folder {str(out)!r} is not empty: a backup goes into a new or empty folder; "
            "choose another --out"
        )


def _write_table(conn: Connection, table: Table, path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    rows = 0
    query = select(table).order_by(*table.primary_key.columns)
    with path.open("wb") as f:
        result = conn.execution_options(yield_per=_BATCH).execute(query)
        names = [str(column.name) for column in table.columns]  # select(table): same order
        for row in result:
            line = orjson.dumps(_plain(table, dict(zip(names, row, strict=True)))) + b"\n"
            digest.update(line)
            f.write(line)
            rows += 1
    return rows, digest.hexdigest()


def _plain(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    # SQLite hands timestamps back naive; they were written as UTC (CURRENT_TIMESTAMP).
    for column in table.columns:
        value = row.get(column.name)
        if isinstance(value, datetime):
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
            row[column.name] = value.astimezone(UTC).isoformat()
    return row


def _version() -> str:
    import synthloop

    return synthloop.__version__


# ---------------------------------------------------------------- restore


def restore(store: Store, src: Path) -> BackupReport:
    """Load the backup in folder `src` into `store`, which must hold nothing yet.

    Every file's sha256 is checked against the manifest before anything is written; the rows go
    in one transaction, keeping their ids; PostgreSQL's id sequences then continue after them."""
    src = Path(src)
    manifest = _manifest(src)
    for name, entry in manifest["tables"].items():
        _check_file(src, name, entry)
    report = BackupReport(src)
    with store.engine.begin() as conn:
        _check_empty(conn, store)
        for table in _TABLES:
            entry = manifest["tables"].get(str(table.name))
            if entry is not None:
                report.counts[str(table.name)] = _load_table(conn, table, src / entry["file"])
        if conn.dialect.name == "postgresql":
            _advance_sequences(conn)
    return report


def _manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(
            f"{str(path)!r} does not exist: a backup folder holds a manifest.json written by "
            "`synthloop backup`; give the folder that backup wrote"
        )
    manifest: dict[str, Any] = orjson.loads(path.read_bytes())
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"backup format {manifest.get('format')!r} in {str(path)!r} is not supported: this "
            f"synthloop reads format {FORMAT}; restore it with the synthloop version that wrote it "
            f"({manifest.get('synthloop_version')!r})"
        )
    known = {str(table.name) for table in _TABLES}
    unknown = sorted(set(manifest.get("tables", {})) - known)
    if unknown:
        raise BackupError(f"backup {str(src)!r} names unknown tables {unknown}: expected {known}")
    return manifest


def _check_file(src: Path, name: str, entry: dict[str, Any]) -> None:
    path = src / entry["file"]
    if path.parent != src or not path.is_file():
        raise BackupError(f"backup file {str(path)!r} for table {name!r} is missing")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != entry["sha256"]:
        raise BackupError(
            f"backup file {str(path)!r} has sha256 {actual[:16]}..., but the manifest says "
            f"{entry['sha256'][:16]}...: the file changed after the backup was written; restore "
            "from an intact copy"
        )


def _check_empty(conn: Connection, store: Store) -> None:
    full = {
        str(table.name): n
        for table in _TABLES
        if (n := conn.execute(select(func.count()).select_from(table)).scalar_one())
    }
    if full:
        held = ", ".join(f"{n:,} {name}" for name, n in full.items())
        raise BackupError(
            f"store {store.url} is not empty ({held}): a backup is restored only into an empty "
            "store; give a new SQLite path or an empty PostgreSQL database with --db"
        )


def _load_table(conn: Connection, table: Table, path: Path) -> int:
    total = 0
    for batch in _batches(table, path):
        conn.execute(insert(table), batch)
        total += len(batch)
    return total


def _batches(table: Table, path: Path) -> Iterator[list[dict[str, Any]]]:
    times = [c.name for c in table.columns if isinstance(c.type, DateTime)]
    names = set(table.columns.keys())
    batch: list[dict[str, Any]] = []
    with path.open("rb") as f:
        for line in f:
            row = {k: v for k, v in orjson.loads(line).items() if k in names}
            for name in times:
                if row.get(name) is not None:
                    row[name] = datetime.fromisoformat(row[name])
            batch.append(row)
            if len(batch) == _BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def _advance_sequences(conn: Connection) -> None:
    # Rows went in with their ids, which PostgreSQL's serial sequences did not see.
    for table in _TABLES:
        if "id" not in table.columns:
            continue
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table.name}"
            )
        )
