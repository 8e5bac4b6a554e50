"""A dataset: its settings and its records, read lazily and written all-or-nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypedDict

import orjson
from sqlalchemy import Dialect, Engine, Select, Text, bindparam, func, select, type_coerce, update

from synthloop.errors import SynthloopError
from synthloop.export.formats import Progress, export_records
from synthloop.io.readers import MAX_ROW_BYTES, open_reader
from synthloop.records import Record, Response, Suggestion
from synthloop.rows import RowParser
from synthloop.settings import Settings
from synthloop.store import tables as t
from synthloop.store.ingest import ImportReport, ingest

__all__ = ["Dataset", "RecordChange"]


class RecordChange(TypedDict):
    """The new state of one record, by its store id (`Record.id`)."""

    record_id: int
    status: str
    reason: str | None
    final: dict[str, Any] | None
    metadata: dict[str, Any]


_PAGE = 1000


class Dataset:
    def __init__(self, engine: Engine, id: int, name: str, settings: Settings) -> None:
        self.engine, self.id, self.name, self.settings = engine, id, name, settings

    def __repr__(self) -> str:
        return f"<Dataset {self.name!r}>"

    # ------------------------------------------------------------ writing

    def add(self, records: Iterable[Record | dict[str, Any]], source: str = "") -> ImportReport:
        """Add records (Record objects or row dicts); all or nothing, like an import. Problems
        name the record by position ("record 3"); `source` names the input in the headline."""
        parser = RowParser(self.settings)
        rows = ((f"record {i}", _as_row(r)) for i, r in enumerate(records, 1))
        with self.engine.begin() as conn:
            return ingest(conn, self.id, rows, parser, source=source)

    def import_file(
        self,
        path: str | Path,
        format: str | None = None,
        mapping: dict[str, str] | None = None,
        progress: Progress | None = None,
        max_row_bytes: int = MAX_ROW_BYTES,
        source: str | None = None,
    ) -> ImportReport:
        """Import a JSONL, CSV or Parquet file or a `datasets` folder; all or nothing.

        `mapping` is {field: column}. Raises ImportFailed listing every invalid row, under the
        name `source` (default: the path).
        """
        path = Path(path)
        probe = RowParser(self.settings, mapping)
        try:
            reader = open_reader(path, format, probe.check_columns, max_row_bytes)
        except ValueError as exc:
            raise SynthloopError(f"cannot import: {exc}") from None
        parser = RowParser(self.settings, mapping, columnar=reader.columnar)

        def tick() -> None:
            if progress:
                progress(reader.position, reader.total)

        with self.engine.begin() as conn:
            report = ingest(conn, self.id, reader, parser, source or str(path), on_batch=tick)
        tick()
        return report

    def update_records(self, changes: Sequence[RecordChange]) -> int:
        """Set status, reason, final and metadata of records by store id, all in one transaction
        (nothing changes when any write fails); returns how many records changed."""
        if not changes:
            return 0
        query = (
            update(t.records)
            .where(t.records.c.id == bindparam("record_id"))
            .where(t.records.c.dataset_id == self.id)
            .values(
                status=bindparam("new_status"),
                reason=bindparam("new_reason"),
                final=bindparam("new_final", type_=t.Json),
                metadata=bindparam("new_metadata", type_=t.Json),
                updated_at=func.now(),
            )
        )
        rows = [{f"new_{k}" if k != "record_id" else k: v for k, v in c.items()} for c in changes]
        with self.engine.begin() as conn:
            conn.execute(query, rows)
        return len(rows)

    # ------------------------------------------------------------ reading

    def records(
        self,
        status: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
        limit: int | None = None,
        after: int = 0,
    ) -> Iterator[Record]:
        """Records in insertion order (store id), those after store id `after` only, fetched a
        page at a time as the caller iterates.

        Each page is read on a connection of its own, so a slow consumer holds no connection
        (nor, on PostgreSQL, an open transaction) between pages.
        """
        query = self._filtered(select(*_RECORD_COLUMNS), status, source, walk_ids=True)
        query = query.order_by(t.records.c.id)
        last, left = after, limit
        while left is None or left > 0:
            page_size = _PAGE if left is None else min(_PAGE, left)
            with self.engine.connect() as conn:
                page = _read_page(conn, query.where(t.records.c.id > last).limit(page_size))
            yield from _records(*page)
            ids = page[0][0]
            if len(ids) < page_size:
                return
            last = ids[-1]
            left = None if left is None else left - len(ids)

    def records_by_id(self, ids: Sequence[int]) -> list[Record]:
        """The records of this dataset with these store ids, by ascending id; unknown ids (or
        another dataset's) are left out."""
        if not ids:
            return []
        query = self._filtered(select(*_RECORD_COLUMNS), None, None)
        query = query.where(t.records.c.id.in_(sorted(set(ids)))).order_by(t.records.c.id)
        with self.engine.connect() as conn:
            return list(_records(*_read_page(conn, query)))

    def responses(self, user: str | None = None) -> list[tuple[int, str | None, Response]]:
        """Every response to this dataset's records (only `user`'s when given), as
        (record store id, record external id, response), by record id then response id."""
        query = (
            select(
                t.responses.c.record_id,
                t.records.c.external_id,
                t.users.c.username,
                t.responses.c["values"],
                t.responses.c.status,
                t.responses.c.duration,
            )
            .join(t.records, t.records.c.id == t.responses.c.record_id)
            .join(t.users, t.users.c.id == t.responses.c.user_id)
            .where(t.records.c.dataset_id == self.id)
            .order_by(t.responses.c.record_id, t.responses.c.id)
        )
        if user is not None:
            query = query.where(t.users.c.username == user)
        with self.engine.connect() as conn:
            return [
                (r.record_id, r.external_id, Response(r.username, r[3], r.status, r.duration))
                for r in conn.execute(query)
            ]

    def count(
        self,
        by: str | None = None,
        status: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
    ) -> Any:
        """The number of records, or with `by` ("status", "source" or "reason") a {value: count}
        dict (records without a reason are not counted by reason)."""
        if by is None:
            query = self._filtered(select(func.count()).select_from(t.records), status, source)
            with self.engine.connect() as conn:
                return conn.execute(query).scalar_one()
        if by not in ("status", "source", "reason"):
            raise SynthloopError(f"count(by={by!r}): can count by 'status', 'source' or 'reason'")
        column = t.records.c[by]
        query = self._filtered(select(column, func.count()), status, source)
        if by == "reason":
            query = query.where(column.is_not(None))
        query = query.group_by(column)
        with self.engine.connect() as conn:
            return dict(sorted(tuple(row) for row in conn.execute(query)))

    def export(
        self,
        path: str | Path,
        format: str | None = None,
        status: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Write the records (everything each holds) to JSONL or Parquet; returns the count."""
        total = self.count(status=status, source=source)
        records = self.records(status=status, source=source)
        return export_records(self.settings, records, Path(path), format, total, progress)

    def _filtered(
        self,
        query: Select[Any],
        status: str | Sequence[str] | None,
        source: str | Sequence[str] | None,
        walk_ids: bool = False,
    ) -> Select[Any]:
        dataset_id: Any = t.records.c.dataset_id
        if walk_ids and self.engine.dialect.name == "sqlite":
            # Paging walks the primary key (`id > last ORDER BY id`). SQLite keeps no statistics,
            # so given `dataset_id = ?` it reads the whole rest of the dataset through the
            # (dataset_id, status) index and sorts it, for every page: a full read is quadratic.
            # `dataset_id + 0` is the same test, but no index can serve it, so the id range wins.
            dataset_id = dataset_id + 0
        query = query.where(dataset_id == self.id)
        for column, wanted in (("status", status), ("source", source)):
            if wanted is not None:
                values = [wanted] if isinstance(wanted, str) else list(wanted)
                query = query.where(t.records.c[column].in_(values))
        return query


def _as_row(item: Record | dict[str, Any]) -> dict[str, Any] | str:
    """The row to ingest, or the problem with an item that is no row (from JSON, say)."""
    if isinstance(item, Record):
        return item.to_dict()
    if isinstance(item, dict):
        return item
    return f"expected a record (an object of fields, or a nested row), got {type(item).__name__}"


class _JsonRead(Text):
    """Reads a record's JSON column with one C call per value on SQLite, where SQLAlchemy's JSON
    type spends two Python calls on each (a tenth of reading a page). These columns hold objects
    or null, never a bare number that SQLite's numeric affinity would hand back unparsed.
    PostgreSQL's driver returns JSONB already parsed, so there is nothing to do there."""

    def __init__(self, nullable: bool = False) -> None:
        super().__init__()
        self.nullable = nullable

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name != "sqlite":
            return None
        return _loads_or_none if self.nullable else orjson.loads


def _loads_or_none(value: str | None) -> Any:
    return None if value is None else orjson.loads(value)


def _column(name: str) -> Any:
    column = t.records.c[name]
    if name in ("fields", "metadata", "provenance", "final"):
        return type_coerce(column, _JsonRead(nullable=bool(column.nullable))).label(name)
    return column


# What a Record holds; not the timestamps (parsing them is a large share of reading a page).
_RECORD_COLUMNS = [
    _column(name)
    for name in (
        "id",
        "external_id",
        "fields",
        "metadata",
        "provenance",
        "status",
        "reason",
        "priority",
        "final",
    )
]


_Page = tuple[list[list[Any]], dict[int, dict[str, Suggestion]], dict[int, list[Response]]]


def _read_page(conn: Any, query: Select[Any]) -> _Page:
    """A page of records: its rows as columns (ids, external ids, ...; see _RECORD_COLUMNS), and
    its suggestions and responses by record id. Two more queries for a whole page.

    Rows are fetched a hundred at a time into columns, and Records made only as the caller takes
    them: objects alive across a page reach the garbage collector's oldest generation, and every
    few thousand of those set off a full collection of the whole heap (up to 40% of the time).
    """
    columns: list[list[Any]] = [[] for _ in _RECORD_COLUMNS]
    for rows in conn.execute(query).partitions(100):
        for column, values in zip(columns, zip(*rows, strict=True), strict=True):
            column.extend(values)
    if not columns[0]:
        return columns, {}, {}
    return columns, _suggestions(conn, columns[0]), _responses(conn, columns[0])


def _suggestions(conn: Any, ids: list[int]) -> dict[int, dict[str, Suggestion]]:
    query = select(
        t.suggestions.c.record_id,
        t.suggestions.c.question,
        t.suggestions.c.value,
        t.suggestions.c.score,
        t.suggestions.c.agent,
    )
    query = query.where(_among(t.suggestions.c.record_id, ids)).order_by(t.suggestions.c.id)
    found: dict[int, dict[str, Suggestion]] = {}
    for record_id, question, value, score, agent in conn.execute(query):
        found.setdefault(record_id, {})[question] = Suggestion(value, score, agent)
    return found


def _responses(conn: Any, ids: list[int]) -> dict[int, list[Response]]:
    query = (
        select(
            t.responses.c.record_id,
            t.users.c.username,
            t.responses.c["values"],
            t.responses.c.status,
            t.responses.c.duration,
        )
        .join(t.users, t.users.c.id == t.responses.c.user_id)
        .where(_among(t.responses.c.record_id, ids))
        .order_by(t.responses.c.id)
    )
    found: dict[int, list[Response]] = {}
    for record_id, user, values, status, duration in conn.execute(query):
        found.setdefault(record_id, []).append(Response(user, values, status, duration))
    return found


def _records(
    columns: list[list[Any]],
    suggestions: dict[int, dict[str, Suggestion]],
    responses: dict[int, list[Response]],
) -> Iterator[Record]:
    for id, external_id, fields, metadata, provenance, status, reason, priority, final in zip(
        *columns, strict=True
    ):
        yield Record(
            fields=fields,
            external_id=external_id,
            metadata=metadata,
            provenance=provenance,
            status=status,
            reason=reason,
            priority=priority,
            suggestions=suggestions.get(id, {}),
            responses=responses.get(id, []),
            final=final,
            id=id,
        )


def _among(column: Any, ids: list[int]) -> Any:
    """`column IN ids` for the ids of a page, ascending. When they are dense (the usual case: a
    dataset's records were written together) ask for the range instead: one index range scan,
    no thousand bound values. Rows of records outside the page are then ignored by the caller."""
    if ids[-1] - ids[0] < 2 * len(ids):
        return column.between(ids[0], ids[-1])
    return column.in_(ids)
