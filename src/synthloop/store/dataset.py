"""A dataset: its settings and its records, read lazily and written all-or-nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Row, Select, func, select

from synthloop.errors import SynthloopError
from synthloop.io.readers import MAX_ROW_BYTES, open_reader
from synthloop.records import Record, Response, Suggestion
from synthloop.rows import RowParser
from synthloop.settings import Settings
from synthloop.store import tables as t
from synthloop.store.ingest import ImportReport, ingest

__all__ = ["Dataset"]

# Called with (done, total) as an import or export goes; total may be None.
Progress = Callable[[int, int | None], None]
_PAGE = 1000


class Dataset:
    def __init__(self, engine: Engine, id: int, name: str, settings: Settings) -> None:
        self.engine, self.id, self.name, self.settings = engine, id, name, settings

    def __repr__(self) -> str:
        return f"<Dataset {self.name!r}>"

    # ------------------------------------------------------------ writing

    def add(self, records: Iterable[Record | dict[str, Any]]) -> ImportReport:
        """Add records (Record objects or row dicts); all or nothing, like an import."""
        parser = RowParser(self.settings)
        rows = ((f"record {i}", _as_row(r)) for i, r in enumerate(records, 1))
        with self.engine.begin() as conn:
            return ingest(conn, self.id, rows, parser)

    def import_file(
        self,
        path: str | Path,
        format: str | None = None,
        mapping: dict[str, str] | None = None,
        progress: Progress | None = None,
        max_row_bytes: int = MAX_ROW_BYTES,
    ) -> ImportReport:
        """Import a JSONL, CSV or Parquet file or a `datasets` folder; all or nothing.

        `mapping` is {field: column}. Raises ImportFailed listing every invalid row.
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
            report = ingest(conn, self.id, reader, parser, source=str(path), on_batch=tick)
        tick()
        return report

    # ------------------------------------------------------------ reading

    def records(
        self,
        status: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[Record]:
        """Records in insertion order, fetched a page at a time as the caller iterates."""
        query = self._filtered(select(t.records), status, source).order_by(t.records.c.id)
        last, left = 0, limit
        while left is None or left > 0:
            page_size = _PAGE if left is None else min(_PAGE, left)
            with self.engine.connect() as conn:
                rows = conn.execute(query.where(t.records.c.id > last).limit(page_size)).all()
                records = _load(conn, rows)
            yield from records
            if len(rows) < page_size:
                return
            last = rows[-1].id
            left = None if left is None else left - len(rows)

    def count(
        self,
        by: str | None = None,
        status: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
    ) -> Any:
        """The number of records, or with `by` ("status" or "source") a {value: count} dict."""
        if by is None:
            query = self._filtered(select(func.count()).select_from(t.records), status, source)
            with self.engine.connect() as conn:
                return conn.execute(query).scalar_one()
        if by not in ("status", "source"):
            raise SynthloopError(f"count(by={by!r}): can count by 'status' or 'source'")
        column = t.records.c[by]
        query = self._filtered(select(column, func.count()), status, source).group_by(column)
        with self.engine.connect() as conn:
            return dict(sorted(conn.execute(query).tuples().all()))

    def export(
        self,
        path: str | Path,
        format: str | None = None,
        status: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Write the records (everything each holds) to JSONL or Parquet; returns the count."""
        from synthloop.export.formats import export_records

        total = self.count(status=status, source=source)
        records = self.records(status=status, source=source)
        return export_records(self.settings, records, Path(path), format, total, progress)

    def _filtered(
        self,
        query: Select[Any],
        status: str | Sequence[str] | None,
        source: str | Sequence[str] | None,
    ) -> Select[Any]:
        query = query.where(t.records.c.dataset_id == self.id)
        for column, wanted in (("status", status), ("source", source)):
            if wanted is not None:
                values = [wanted] if isinstance(wanted, str) else list(wanted)
                query = query.where(t.records.c[column].in_(values))
        return query


def _as_row(item: Record | dict[str, Any]) -> dict[str, Any]:
    return item.to_dict() if isinstance(item, Record) else item


def _load(conn: Any, rows: Sequence[Row[Any]]) -> list[Record]:
    """Build records with their suggestions and responses: two queries for a whole page."""
    ids = [r.id for r in rows]
    if not ids:
        return []
    suggestions: dict[int, dict[str, Suggestion]] = {}
    query = (
        select(t.suggestions).where(t.suggestions.c.record_id.in_(ids)).order_by(t.suggestions.c.id)
    )
    for s in conn.execute(query):
        suggestions.setdefault(s.record_id, {})[s.question] = Suggestion(s.value, s.score, s.agent)
    responses: dict[int, list[Response]] = {}
    query = (
        select(t.responses, t.users.c.username)
        .join(t.users, t.users.c.id == t.responses.c.user_id)
        .where(t.responses.c.record_id.in_(ids))
        .order_by(t.responses.c.id)
    )
    for r in conn.execute(query):
        responses.setdefault(r.record_id, []).append(
            Response(r.username, r._mapping["values"], r.status, r.duration)
        )
    return [_record(r._mapping, suggestions.get(r.id, {}), responses.get(r.id, [])) for r in rows]


def _record(row: Any, suggestions: dict[str, Suggestion], responses: list[Response]) -> Record:
    return Record(
        fields=row["fields"],
        external_id=row["external_id"],
        metadata=row["metadata"],
        provenance=row["provenance"],
        status=row["status"],
        reason=row["reason"],
        priority=row["priority"],
        suggestions=suggestions,
        responses=responses,
        final=row["final"],
        id=row["id"],
    )
