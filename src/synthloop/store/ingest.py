"""Writing records into a dataset: all or nothing, deduplicated, fast.

One transaction covers a whole import. Rows are validated as they stream in and written in
batches; the first invalid row stops the writing (the rest are still validated, so every problem
is reported) and the transaction is rolled back, leaving the store exactly as it was. A process
killed mid-import never commits, so it leaves the store as it was too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select

from synthloop.errors import ImportFailed, Problem
from synthloop.records import Record, content_hash
from synthloop.rows import RowParser
from synthloop.store import tables as t

__all__ = ["ImportReport", "ingest"]

Progress = Callable[[int], None]
_MAX_PROBLEMS_KEPT = 200


@dataclass
class ImportReport:
    """What an import did with every row it read: nothing is dropped without a count."""

    rows: int = 0  # rows read
    added: int = 0  # new records written
    existing: int = 0  # already in the dataset (same id, or same content when no id)
    repeated: int = 0  # same content as an earlier row of this input (rows without an id)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def ingest(
    conn: Connection,
    dataset_id: int,
    rows: Iterable[tuple[str, Any]],
    parser: RowParser,
    source: str = "",
    on_batch: Callable[[], None] | None = None,
) -> ImportReport:
    """Validate and write `rows` ((where, dict | problem text) pairs) inside `conn`'s transaction.

    Raises ImportFailed, listing every problem, when any row is invalid; the caller's transaction
    must then roll back.
    """
    report, problems, total = ImportReport(), [], 0
    ids: dict[str, str] = {}  # explicit id -> where it was first seen
    hashes: set[str] = set()
    writer = _BatchWriter(conn, dataset_id, report)
    for where, row in rows:
        report.rows += 1
        if on_batch and report.rows % 4096 == 0:
            on_batch()
        found = _check(where, row, parser, ids, hashes, report)
        if isinstance(found, tuple):
            if not total:
                writer.add(*found)
            continue
        total += len(found)
        problems.extend(Problem(where, p) for p in found[: _MAX_PROBLEMS_KEPT - len(problems)])
    if report.rows == 0:
        raise ImportFailed(
            [Problem("", "the input holds no records; nothing to import")], source=source
        )
    if total:
        raise ImportFailed(problems, total=total, source=source)
    writer.flush()
    return report


def _check(
    where: str,
    row: Any,
    parser: RowParser,
    ids: dict[str, str],
    hashes: set[str],
    report: ImportReport,
) -> tuple[Record, str] | list[str]:
    """The valid record and its content hash, or the problems with this row (a row repeating
    an earlier one's content comes back as no problems and no record)."""
    if isinstance(row, str):
        return [row]
    record, problems = parser.parse(row)
    if record is None:
        return problems
    digest = content_hash(record.fields)
    if record.external_id is None:
        if digest in hashes:
            report.repeated += 1
            return []
        hashes.add(digest)
        record.external_id = digest
    elif record.external_id in ids:
        first = ids[record.external_id]
        return [
            f"id {record.external_id!r} was already used at {first}; ids must be unique "
            "within one input"
        ]
    else:
        ids[record.external_id] = where
    return record, digest


class _BatchWriter:
    """Buffers records and writes them in batches, skipping those the dataset already holds."""

    size = 5000

    def __init__(self, conn: Connection, dataset_id: int, report: ImportReport) -> None:
        self.conn, self.dataset_id, self.report = conn, dataset_id, report
        self.pending: list[tuple[Record, str]] = []
        self.users: dict[str, int] = {}
        # An empty dataset holds nothing to skip: don't look every id up.
        count = (
            select(func.count()).select_from(t.records).where(t.records.c.dataset_id == dataset_id)
        )
        self.dedupe = bool(conn.execute(count).scalar())

    def add(self, record: Record, digest: str) -> None:
        self.pending.append((record, digest))
        if len(self.pending) >= self.size:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        if self.dedupe and batch:
            batch = self._drop_existing(batch)
        if not batch:
            return
        self.conn.execute(insert(t.records), [self._row(r, digest) for r, digest in batch])
        self.report.added += len(batch)
        children = [r for r, _ in batch if r.suggestions or r.responses]
        if children:
            self._write_children(children)

    def _row(self, r: Record, digest: str) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "external_id": r.external_id,
            "content_hash": digest,
            "fields": r.fields,
            "metadata": r.metadata,
            "provenance": r.provenance,
            "source": r.source,
            "status": r.status,
            "reason": r.reason,
            "priority": r.priority,
            "final": r.final,
        }

    def _ids_of(self, external_ids: list[str]) -> dict[str, int]:
        query = select(t.records.c.external_id, t.records.c.id).where(
            t.records.c.dataset_id == self.dataset_id,
            t.records.c.external_id.in_(bindparam("ids", expanding=True)),
        )
        found: dict[str, int] = {}
        for start in range(0, len(external_ids), 1000):
            chunk = external_ids[start : start + 1000]
            found.update(tuple(row) for row in self.conn.execute(query, {"ids": chunk}))
        return found

    def _drop_existing(self, batch: list[tuple[Record, str]]) -> list[tuple[Record, str]]:
        existing = self._ids_of([r.external_id for r, _ in batch if r.external_id])
        self.report.existing += len(existing)
        return [item for item in batch if item[0].external_id not in existing]

    def _write_children(self, children: list[Record]) -> None:
        ids = self._ids_of([r.external_id for r in children if r.external_id])
        users = self._user_ids({resp.user for r in children for resp in r.responses})
        suggestions = [
            {
                "record_id": ids[r.external_id],
                "question": q,
                "value": s.value,
                "score": s.score,
                "agent": s.agent,
            }
            for r in children
            if r.external_id
            for q, s in r.suggestions.items()
        ]
        responses = [
            {
                "record_id": ids[r.external_id],
                "user_id": users[resp.user],
                "values": resp.values,
                "status": resp.status,
                "duration": resp.duration,
            }
            for r in children
            if r.external_id
            for resp in r.responses
        ]
        if suggestions:
            self.conn.execute(insert(t.suggestions), suggestions)
        if responses:
            self.conn.execute(insert(t.responses), responses)

    def _user_ids(self, names: set[str]) -> dict[str, int]:
        """Annotators named in imported responses become users (role annotator) if new."""
        missing = sorted(names - self.users.keys())
        if missing:
            query = select(t.users.c.username, t.users.c.id).where(t.users.c.username.in_(missing))
            self.users.update(tuple(row) for row in self.conn.execute(query))
            new = [{"username": n} for n in missing if n not in self.users]
            if new:
                self.conn.execute(insert(t.users), new)
                self.users.update(tuple(row) for row in self.conn.execute(query))
        return self.users
