"""Export writers: everything a record holds, in a shape `synthloop import` reads back unchanged.

- JSONL: one nested row per line (`{"id", "fields", "metadata", "provenance", "status", ...}`).
- Parquet: one column per field (text and markdown as strings; chat and json as JSON text, since
  a chat message may carry keys beyond role and content), then `status`, `reason`, `priority`,
  and `metadata`, `provenance`, `suggestions`, `responses`, `final` as JSON text, so any
  dataset's records fit one fixed schema.

A file is written beside its target and renamed into place, so a failed export leaves no half file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import orjson

from synthloop.errors import SynthloopError
from synthloop.records import Record
from synthloop.settings import Settings

__all__ = ["WRITERS", "export_records"]

# Called with (done, total) as an import or export goes; total may be None.
Progress = Callable[[int, int | None], None]
Writer = Callable[[Settings, Iterable[Record], Path, Callable[[int], None]], int]
_BATCH = 5000
_T = TypeVar("_T")


# Writers turn each record into its output (bytes, or a tuple of cells) as it arrives and batch
# those, not the records: thousands of live records would reach the garbage collector's oldest
# generation and set off full collections of the whole heap, a quarter of an export's time.


def _write_jsonl(
    settings: Settings, records: Iterable[Record], path: Path, tick: Callable[[int], None]
) -> int:
    count = 0
    lines = (orjson.dumps(r.to_dict()) + b"\n" for r in records)
    with path.open("wb") as f:
        for batch in _batches(lines):
            f.write(b"".join(batch))
            count += len(batch)
            tick(count)
    return count


def _write_parquet(
    settings: Settings, records: Iterable[Record], path: Path, tick: Callable[[int], None]
) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema(settings, pa)
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in _batches(_parquet_row(settings, r) for r in records):
            cells = zip(*batch, strict=True)  # rows to columns
            columns = dict(zip(schema.names, map(list, cells), strict=True))
            writer.write_table(pa.Table.from_pydict(columns, schema=schema))
            count += len(batch)
            tick(count)
    return count


_JSON_COLUMNS = ("metadata", "provenance", "suggestions", "responses", "final")
_JSON_FIELDS = frozenset({"chat", "json"})


def _parquet_schema(settings: Settings, pa: Any) -> Any:
    return pa.schema(
        [("id", pa.string())]
        + [(f.name, pa.string()) for f in settings.fields]
        + [("status", pa.string()), ("reason", pa.string()), ("priority", pa.float64())]
        + [(name, pa.string()) for name in _JSON_COLUMNS]
    )


def _parquet_row(settings: Settings, record: Record) -> tuple[Any, ...]:
    """The record's cells, in _parquet_schema's column order."""
    d = record.to_dict()
    fields = [
        _json_text(d["fields"].get(f.name)) if f.type in _JSON_FIELDS else d["fields"].get(f.name)
        for f in settings.fields
    ]
    return (
        d["id"],
        *fields,
        d["status"],
        d["reason"],
        d["priority"],
        *(_json_text(d[key]) for key in _JSON_COLUMNS),
    )


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _batches(items: Iterable[_T]) -> Iterator[list[_T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, _BATCH)):
        yield batch


WRITERS: dict[str, Writer] = {"jsonl": _write_jsonl, "parquet": _write_parquet}
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def export_records(
    settings: Settings,
    records: Iterable[Record],
    path: Path,
    format: str | None = None,
    total: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Write `records` to `path`; the format comes from `format` or the file's suffix."""
    fmt = format or _SUFFIXES.get(path.suffix.lower())
    if fmt not in WRITERS:
        known = ", ".join(WRITERS)
        raise SynthloopError(
            f"cannot export to {str(path)!r}: format {fmt or path.suffix!r} is not "
            f"one of {known}; pass --format or use a .jsonl/.parquet name"
        )
    if path.parent and not path.parent.exists():
        raise SynthloopError(
            f"cannot export to {str(path)!r}: folder {str(path.parent)!r} does "
            "not exist; create it first"
        )
    partial = path.with_name(f".{path.name}.partial")
    try:
        count = WRITERS[fmt](
            settings, records, partial, lambda done: progress(done, total) if progress else None
        )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count
