"""Writing records into a dataset: all or nothing, deduplicated, fast.

One transaction covers a whole import. Rows are validated as they stream in and written in
batches; the first invalid row stops the writing (the rest are still validated, so every problem
is reported) and the transaction is rolled back, leaving the store exactly as it was. A process
killed mid-import never commits, so it leaves the store as it was too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ARRAY, Connection, String, any_, bindparam, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from synthloop.errors import ImportFailed, Problem
from synthloop.records import Record, content_hash
from synthloop.rows import RowParser
from synthloop.store import tables as t
from synthloop.store.engine import json_text

__all__ = ["ImportReport", "ingest"]

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
    A row may also be a Record the caller already parsed with `parser` (it is not parsed again).

    Raises ImportFailed, listing every problem, when any row is invalid; the caller's transaction
    must then roll back.
    """
    report, problems, total = ImportReport(), list[Problem](), 0
    ids: dict[str, str] = {}  # explicit id -> where it was first seen
    hashes: set[str] = set()
    writer = _BatchWriter(conn, dataset_id, report)
    for where, row in rows:
        report.rows += 1
        if on_batch and report.rows % 4096 == 0:
            on_batch()
        found = _check(where, row, parser, ids, hashes, report)
        if isinstance(found, tuple):
            # Once a row is invalid nothing more is written, but every row is still checked.
            refused = writer.add(*found, write=not total)
            if refused is None:
                continue
            found = [refused]
        total += len(found)
        problems.extend(Problem(where, p) for p in found[: _MAX_PROBLEMS_KEPT - len(problems)])
    if report.rows == 0:
        raise ImportFailed(
            [Problem("", "the input holds no records; nothing to import")], source=source
        )
    if total:
        raise ImportFailed(problems, total=total, source=source)
    writer.flush()
    _refresh_statistics(conn, report.added)
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
    if isinstance(row, Record):  # already parsed by the caller with this dataset's parser
        record: Record | None = row
    else:
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


# PostgreSQL can store the NUL character in neither text nor JSONB; refuse it on every backend so
# a dataset moves between them unchanged. In JSON text it is the escape \u0000.
_NUL_PROBLEM = "a value holds the NUL character (\\u0000), which the store cannot keep; remove it"
# The escape itself, not a literal backslash (escaped as \\) followed by "u0000".
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _json_holds_nul(text: str) -> bool:
    # The substring test is the fast path; the pattern only confirms a rare hit.
    return "\\u0000" in text and _JSON_NUL.search(text) is not None


class _BatchWriter:
    """Buffers records and writes them in batches, skipping those the dataset already holds."""

    size = 5000

    def __init__(self, conn: Connection, dataset_id: int, report: ImportReport) -> None:
        self.conn, self.dataset_id, self.report = conn, dataset_id, report
        # Rows are kept as flat tuples of text and numbers rather than Records: the garbage
        # collector stops tracking such tuples, whereas thousands of live Records (and their
        # dicts) make its full collections slow, which cost a fifth of an import's time.
        self.pending: list[tuple[Any, ...]] = []
        self.children: list[Record] = []  # pending records that carry suggestions or responses
        self.users: dict[str, int] = {}
        # An empty dataset holds nothing to skip: don't look every id up.
        count = (
            select(func.count()).select_from(t.records).where(t.records.c.dataset_id == dataset_id)
        )
        self.dedupe = bool(conn.execute(count).scalar())
        self.analyze_at = 20_000

    def add(self, record: Record, digest: str, write: bool = True) -> str | None:
        """Queue a record for writing; return why it cannot be stored instead, if it cannot."""
        row = self._row(record, digest)
        children = bool(record.suggestions or record.responses)
        texts = (*row[3:6], row[10], json_text(record.to_dict()) if children else "")
        if "\x00" in f"{record.external_id}{record.reason}" or any(map(_json_holds_nul, texts)):
            return _NUL_PROBLEM
        if not write:
            return None
        self.pending.append(row)
        if children:
            self.children.append(record)
        if len(self.pending) >= self.size:
            self.flush()
        return None

    def flush(self) -> None:
        rows, children = self.pending, self.children
        self.pending, self.children = [], []
        if self.dedupe and rows:
            existing = self._ids_of([row[1] for row in rows])
            self.report.existing += len(existing)
            rows = [row for row in rows if row[1] not in existing]
            children = [r for r in children if r.external_id not in existing]
        if not rows:
            return
        _insert_records(self.conn, rows)
        self.report.added += len(rows)
        if children:
            self._write_children(children)
        if (self.dedupe or children) and self.report.added >= self.analyze_at:
            # The id lookups (duplicates, children) run against a table this import keeps
            # growing; PostgreSQL plans them from statistics taken before, and ends up reading
            # all this import wrote for every batch. ANALYZE counts our own uncommitted rows, so
            # refresh the statistics each time the import doubles what it has written.
            _analyze(self.conn)
            self.analyze_at *= 2

    def _row(self, r: Record, digest: str) -> tuple[Any, ...]:
        # In _RECORD_COLUMNS order, JSON already text (None final is JSON null, as the JSON type
        # stores it).
        return (
            self.dataset_id,
            r.external_id,
            digest,
            json_text(r.fields),
            json_text(r.metadata),
            json_text(r.provenance),
            r.source,
            r.status,
            r.reason,
            r.priority,
            json_text(r.final),
        )

    def _ids_of(self, external_ids: list[str]) -> dict[str, int]:
        """{external id: record id} for those of `external_ids` the dataset holds."""
        column = t.records.c.external_id
        if self.conn.dialect.name == "postgresql":
            # One array parameter: rendering, sending and parsing a thousand placeholders cost
            # PostgreSQL more than the lookups themselves.
            match = column == any_(bindparam("ids", type_=ARRAY(String)))
        else:
            match = column.in_(bindparam("ids", expanding=True))
        query = select(column, t.records.c.id).where(
            t.records.c.dataset_id == self.dataset_id, match
        )
        found: dict[str, int] = {}
        for start in range(0, len(external_ids), 1000):
            chunk = external_ids[start : start + 1000]
            found.update(tuple(row) for row in self.conn.execute(query, {"ids": chunk}))
        return found

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


_RECORD_COLUMNS = (
    "dataset_id",
    "external_id",
    "content_hash",
    "fields",
    "metadata",
    "provenance",
    "source",
    "status",
    "reason",
    "priority",
    "final",
)


def _insert_records(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows (in _RECORD_COLUMNS order, JSON already text) into records by the driver's
    fastest path, on `conn` and so inside the import's transaction.

    SQLAlchemy's per-row parameter and JSON processing cost more than the database's own work
    here, so rows go to the driver as they are: COPY on psycopg, a plain executemany elsewhere.
    """
    quote = conn.dialect.identifier_preparer.quote
    table, names = quote(t.records.name), ", ".join(map(quote, _RECORD_COLUMNS))
    if conn.dialect.driver == "psycopg":
        _copy(conn, f"COPY {table} ({names}) FROM STDIN", rows)
    elif conn.dialect.paramstyle == "qmark":
        marks = ", ".join("?" * len(_RECORD_COLUMNS))
        conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    else:  # any other driver: untyped binds, so the JSON text is stored as it is
        binds = ", ".join(f":{c}" for c in _RECORD_COLUMNS)
        statement = text(f"INSERT INTO {table} ({names}) VALUES ({binds})")
        conn.execute(statement, [dict(zip(_RECORD_COLUMNS, row, strict=True)) for row in rows])


def _copy(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """COPY rows in through psycopg's own connection (the one `conn` wraps, same transaction)."""
    import psycopg

    driver: Any = conn.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        # The error SQLAlchemy would have raised (IntegrityError, ...), as for any other statement.
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def _refresh_statistics(conn: Connection, added: int) -> None:
    """PostgreSQL: after a large write, bring the planner's statistics on records up to date.

    Until autovacuum gets to it (a minute later, or never when it is off) PostgreSQL plans
    `dataset_id = ?` as if it matched a handful of rows, so a re-import's duplicate check and
    records() paging read the whole dataset for every batch. ANALYZE samples a fixed number of
    rows: well under a second even for millions. The rule is autovacuum's: 10% of the table.
    """
    if conn.dialect.name != "postgresql" or added < 1000:
        return
    known = conn.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)"),
        {"table": conn.dialect.identifier_preparer.quote(t.records.name)},
    ).scalar()
    if known is None or added >= 0.1 * known:
        _analyze(conn)


def _analyze(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.quote(t.records.name)}")
