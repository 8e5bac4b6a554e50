"""Readers turn an input file into rows, each tagged with where it came from ("line 14").

A reader yields `(where, row)` where row is a dict, or a string naming a problem with that part of
the file (bad bytes, broken JSON, a line over the size limit). Readers never stop at the first
problem, so an import can report them all. Formats are registered in `READERS`, built-ins included.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

__all__ = ["MAX_ROW_BYTES", "READERS", "ColumnCheck", "Reader", "detect_format", "open_reader"]

# One row larger than this is almost always a broken file (a missing newline), not a record.
MAX_ROW_BYTES = 16 * 1024 * 1024

Row = tuple[str, dict[str, Any] | str]
# Given a file's column names, return the problems with them (e.g. a required field missing).
ColumnCheck = Callable[[list[str]], list[str]]


class Reader:
    """Rows of one input. Subclasses set `columnar` and `unit` and implement __iter__."""

    columnar = False  # cells may hold objects as JSON text
    unit = "bytes"

    def __init__(self, path: Path, check_columns: ColumnCheck, max_row_bytes: int) -> None:
        self.path, self.check_columns, self.limit = path, check_columns, max_row_bytes
        self.total: int | None = None  # size of the input in `unit`s, when known
        self.position = 0  # how far reading has got, in the same unit

    def __iter__(self) -> Iterator[Row]:
        raise NotImplementedError


class JsonlReader(Reader):
    """One JSON object per line; blank lines are skipped."""

    columnar = False
    unit = "bytes"

    def __init__(self, path: Path, check_columns: ColumnCheck, max_row_bytes: int) -> None:
        super().__init__(path, check_columns, max_row_bytes)
        self.total = path.stat().st_size

    def __iter__(self) -> Iterator[Row]:
        with self.path.open("rb") as f:
            number = 0
            while line := f.readline(self.limit + 1):
                number += 1
                if number == 1:
                    line = line.removeprefix(_BOM)  # editors on Windows start UTF-8 files with one
                if number % 1024 == 0:
                    self.position = f.tell()
                if len(line) > self.limit:
                    size = len(line) + _skip_line(f)
                    yield (
                        f"line {number}",
                        (
                            f"the line is {size:,} bytes, over the limit of {self.limit:,} "
                            "bytes per row; check for a missing newline, or raise --max-row-bytes"
                        ),
                    )
                    continue
                if line.isspace():
                    continue
                yield f"line {number}", _parse_json_line(line)
        if number == 0:
            yield "line 1", "the file is empty: a JSONL file needs one JSON object per line"
        self.position = self.total or 0


_BOM = b"\xef\xbb\xbf"


def _skip_line(f: Any) -> int:
    skipped = 0
    while chunk := f.readline(1 << 20):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _parse_json_line(line: bytes) -> dict[str, Any] | str:
    try:
        text = line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        return _bad_bytes(line, exc)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} at column {exc.colno}; check the line is complete"
    if not isinstance(value, dict):
        return f"expected a JSON object on each line, got {type(value).__name__}"
    return value


def _bad_bytes(line: bytes, exc: UnicodeDecodeError) -> str:
    byte = line[exc.start : exc.start + 1].hex()
    return (
        f"byte 0x{byte} at column {exc.start + 1} is not UTF-8; re-encode the file as UTF-8 "
        "(e.g. iconv -f latin1 -t utf-8)"
    )


class CsvReader(Reader):
    """Comma-separated values with a header row; cells holding chat or JSON are JSON text."""

    columnar = True
    unit = "bytes"

    def __init__(self, path: Path, check_columns: ColumnCheck, max_row_bytes: int) -> None:
        super().__init__(path, check_columns, max_row_bytes)
        self.total = path.stat().st_size
        self._bad: list[str] = []

    def __iter__(self) -> Iterator[Row]:
        csv.field_size_limit(min(self.limit, sys.maxsize))
        with self.path.open("rb") as f:
            reader = csv.reader(self._lines(f), strict=True)
            yield from self._rows(reader, f)
        self.position = self.total or 0

    def _rows(self, reader: Any, f: Any) -> Iterator[Row]:
        header = self._next(reader)
        if isinstance(header, str) or header is None:
            yield "line 1", header or "the file is empty: a CSV needs a header row"
            return
        # Bad bytes in the header garble the column names: say so first.
        problems = self._bad + self.check_columns(header) + _repeated_columns(header)
        if problems:
            yield from (("line 1 (header)", p) for p in problems)
            return
        while True:
            start = reader.line_num + 1
            row = self._next(reader)
            if row is None:
                return
            self.position = f.tell()
            if isinstance(row, str):
                yield f"line {start}", row
            elif self._bad:
                yield from ((f"line {start}", p) for p in self._bad)
                self._bad.clear()
            elif len(row) != len(header):
                yield (
                    f"line {start}",
                    (
                        f"the row has {len(row)} cells but the header has "
                        f"{len(header)}; quote cells that hold commas"
                    ),
                )
            elif any(row):
                # An empty cell is an absent value (CSV cannot tell "" from nothing).
                yield f"line {start}", {k: v or None for k, v in zip(header, row, strict=True)}

    @staticmethod
    def _next(reader: Any) -> list[str] | str | None:
        try:
            return next(reader)  # type: ignore[no-any-return]
        except StopIteration:
            return None
        except csv.Error as exc:
            return f"not valid CSV: {exc}"

    def _lines(self, f: Any) -> Iterator[str]:
        # Decode line by line so a bad byte is reported with its line instead of ending the read.
        for number, raw in enumerate(f):
            if number == 0:
                raw = raw.removeprefix(_BOM)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._bad.append(_bad_bytes(raw, exc))
                yield raw.decode("utf-8", "replace")


def _repeated_columns(header: list[str]) -> list[str]:
    repeated = sorted({c for c in header if header.count(c) > 1})
    return [f"column {c!r} appears more than once" for c in repeated]


class ParquetReader(Reader):
    columnar = True
    unit = "rows"

    def __iter__(self) -> Iterator[Row]:
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            yield "file", f"not a readable Parquet file: {exc}"
            return
        self.total = parquet.metadata.num_rows
        yield from _table_rows(
            parquet.schema_arrow.names,
            self.check_columns,
            (b.to_pylist() for b in parquet.iter_batches(batch_size=8192)),
            self,
        )


class DatasetsReader(Reader):
    """A folder written by Hugging Face `datasets` `save_to_disk` (needs synthloop[datasets])."""

    columnar = True
    unit = "rows"

    def __iter__(self) -> Iterator[Row]:
        try:
            from datasets import Dataset, load_from_disk
        except ImportError:
            yield "folder", "reading a `datasets` folder needs: pip install 'synthloop[datasets]'"
            return
        try:
            data = load_from_disk(str(self.path))
        except Exception as exc:  # datasets raises FileNotFoundError, ValueError, ...
            yield "folder", f"not a `datasets` folder made by save_to_disk: {exc}"
            return
        if not isinstance(data, Dataset):
            splits = ", ".join(str(self.path / s) for s in data)
            yield "folder", f"holds several splits; import one split's folder: {splits}"
            return
        self.total = data.num_rows
        batches = (_column_batch(b) for b in data.iter(batch_size=8192))
        yield from _table_rows(list(data.column_names), self.check_columns, batches, self)


def _column_batch(batch: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(batch)
    return [dict(zip(names, values, strict=True)) for values in zip(*batch.values(), strict=True)]


def _table_rows(
    names: list[str],
    check_columns: ColumnCheck,
    batches: Iterator[list[dict[str, Any]]],
    reader: Any,
) -> Iterator[Row]:
    problems = check_columns(names)
    if problems:
        yield from (("columns", p) for p in problems)
        return
    number = 0
    for batch in batches:
        for row in batch:
            number += 1
            yield f"row {number}", row
        reader.position = number


READERS: dict[str, type[Reader]] = {
    "jsonl": JsonlReader,
    "csv": CsvReader,
    "parquet": ParquetReader,
    "datasets": DatasetsReader,
}

_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def detect_format(path: Path) -> str | None:
    if path.is_dir():
        return "datasets"
    return _SUFFIXES.get(path.suffix.lower())


def open_reader(
    path: Path, fmt: str | None, check_columns: ColumnCheck, max_row_bytes: int = MAX_ROW_BYTES
) -> Reader:
    """Raise ValueError (with the fix) when the format is unknown or the path is missing."""
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    fmt = fmt or detect_format(path)
    if fmt is None:
        raise ValueError(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
            f"pass --format ({', '.join(READERS)})"
        )
    if fmt not in READERS:
        raise ValueError(f"format {fmt!r} is not one of: {', '.join(READERS)}")
    return READERS[fmt](path, check_columns, max_row_bytes)
