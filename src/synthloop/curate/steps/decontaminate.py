"""The `decontaminate` step: reject records that share word n-grams with an evaluation set.

A model trained on its own test questions scores well for the wrong reason, so records that
overlap evaluation items are thrown out before training. The check is the usual one (GPT-3,
Llama): word 13-grams after normalising (lowercase, punctuation dropped, whitespace collapsed).
Every n-gram of every evaluation item goes into one table (n-gram -> the first item that has
it), and a record is contaminated when it shares at least `min_overlap` n-grams with one item.

Evaluation files: JSON (`.jsonl`, `.json`: one object per line, or one array of objects; the
text under `field`, or, when `field` is left at `text` and an object has none, the first of
question, prompt, input, problem, instruction, content), CSV (`.csv`: the `field` column, same
fallbacks) or plain text (anything else: one item per non-blank line).

An item shorter than `n` words counts as one n-gram of its own length, so a short question
still matches when it appears whole in a record. Items shorter than `min_item_words` are
ignored (counted as `eval_items_ignored`): a two-word answer such as "Paris, France" would
flag every record that mentions it.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import Field

from synthloop.curate.base import (
    Context,
    Doc,
    Rejection,
    Step,
    StepOptions,
    StepResult,
    register_step,
)
from synthloop.errors import InvalidFile, Problem

__all__ = ["DecontaminateOptions", "DecontaminateStep", "EvalIndex", "build_index"]

_FALLBACK_FIELDS = ("text", "question", "prompt", "input", "problem", "instruction", "content")
_WORD = re.compile(r"\w+")
_MAX_PROBLEMS = 20


class DecontaminateOptions(StepOptions):
    files: list[str] = Field(min_length=1, description="Evaluation sets: JSONL, CSV or .txt.")
    field: str = Field(
        "text", description="JSONL key or CSV column holding the item (text falls back)."
    )
    n: int = Field(13, ge=1, description="Words per n-gram.")
    min_overlap: int = Field(1, ge=1, description="Shared n-grams with one item to reject.")
    min_item_words: int = Field(
        5, ge=1, description="Evaluation items with fewer words are ignored."
    )
    normalise: bool = Field(
        True, description="Lowercase, drop punctuation, collapse whitespace before comparing."
    )


@dataclass(frozen=True, slots=True)
class _Item:
    file: str
    index: int  # the item's position among its file's items, from 0
    line: int  # its line in the file (its position in a JSON array), from 1


Gram = tuple[str, ...]


@dataclass
class EvalIndex:
    """The n-grams of every evaluation item, each pointing at the first item that has it.

    Keyed by the n-gram itself, not by its `hash()`: the index is built once and checked in
    other processes too (a distributed runner's workers), where a string's hash differs (it is
    salted per process); a dict of tuples is rebuilt with the right hashes when unpickled."""

    grams: dict[Gram, int] = field(default_factory=dict)  # n-gram -> item number
    items: list[_Item] = field(default_factory=list)
    short_lengths: set[int] = field(default_factory=set)  # word counts of items shorter than n
    ignored: int = 0  # items under min_item_words


def _words(text: str, normalise: bool) -> list[str]:
    return _WORD.findall(text.lower()) if normalise else text.split()


def _ngrams(words: list[str], n: int) -> Iterator[Gram]:
    return zip(*(words[i:] for i in range(n)), strict=False)


def build_index(options: DecontaminateOptions) -> EvalIndex:
    """Read every evaluation file into one n-gram table; raises InvalidFile naming the file and
    line of every unreadable item."""
    index = EvalIndex()
    for name in options.files:
        for position, (line, text) in enumerate(_read_items(Path(name), options.field)):
            words = _words(text, options.normalise)
            if len(words) < options.min_item_words:
                index.ignored += 1
                continue
            number = len(index.items)
            index.items.append(_Item(name, position, line))
            if len(words) < options.n:
                index.short_lengths.add(len(words))
                grams: Iterator[Gram] = iter([tuple(words)])
            else:
                grams = _ngrams(words, options.n)
            for gram in grams:
                index.grams.setdefault(gram, number)
    return index


def _read_items(path: Path, key: str) -> list[tuple[int, str]]:
    suffix = path.suffix.lower()
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            if suffix in (".jsonl", ".json"):
                items = _json_items(handle, key, path)
            elif suffix == ".csv":
                items = _csv_items(handle, key, path)
            else:
                items = [(n, line) for n, line in enumerate(handle, 1) if line.strip()]
    except OSError as exc:
        raise InvalidFile(
            [Problem(str(path), f"cannot read the evaluation file: {exc.strerror}")],
            source=str(path),
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidFile(
            [Problem(str(path), f"not UTF-8 text ({exc.reason}); save the file as UTF-8")],
            source=str(path),
        ) from None
    if not items:
        raise InvalidFile(
            [Problem(str(path), "no evaluation items: the file is empty")], source=str(path)
        )
    return items


def _keys(key: str) -> tuple[str, ...]:
    return _FALLBACK_FIELDS if key == "text" else (key,)


_Row = tuple[int, str, Any]  # (line or position, where to say it is, the value or a Problem)


def _json_items(handle: Any, key: str, path: Path) -> list[tuple[int, str]]:
    text = handle.read()
    array = path.suffix.lower() == ".json" and text.lstrip().startswith("[")
    rows = _array_rows(text, path) if array else _jsonl_rows(text, path)
    items: list[tuple[int, str]] = []
    problems: list[Problem] = []
    for number, where, row in rows:
        item = _text_of(row, key) if isinstance(row, dict) else None
        if isinstance(row, Problem):
            problems.append(row)
        elif item is None:
            problems.append(Problem(where, _missing(key, "key", row)))
        else:
            items.append((number, item))
    _raise(problems, path)
    return items


def _jsonl_rows(text: str, path: Path) -> list[_Row]:
    rows: list[_Row] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            where = f"{path} line {number}"
            try:
                rows.append((number, where, orjson.loads(line)))
            except orjson.JSONDecodeError as exc:
                rows.append((number, where, Problem(where, f"not valid JSON ({exc})")))
    return rows


def _array_rows(text: str, path: Path) -> list[_Row]:
    """A file holding one JSON array: its items are numbered by position, from 1."""
    try:
        rows = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return [(0, str(path), Problem(str(path), f"not valid JSON ({exc})"))]
    return [(i, f"{path} item {i}", row) for i, row in enumerate(rows, 1)]


def _csv_items(handle: Any, key: str, path: Path) -> list[tuple[int, str]]:
    reader = csv.DictReader(handle)
    columns = reader.fieldnames or []
    column = next((k for k in _keys(key) if k in columns), None)
    if column is None:
        raise InvalidFile(
            [Problem(f"{path} line 1", _missing(key, "column", dict.fromkeys(columns)))],
            source=str(path),
        )
    try:
        return [(reader.line_num, row[column]) for row in reader if (row[column] or "").strip()]
    except csv.Error as exc:
        raise InvalidFile(
            [Problem(f"{path} line {reader.line_num}", f"not readable CSV ({exc})")],
            source=str(path),
        ) from None


def _text_of(row: dict[str, Any], key: str) -> str | None:
    for k in _keys(key):
        if isinstance(row.get(k), str):
            return str(row[k])
    return None


def _missing(key: str, what: str, row: Any) -> str:
    wanted = " or ".join(repr(k) for k in _keys(key))
    found = ", ".join(repr(k) for k in row) if isinstance(row, dict) else type(row).__name__
    return (
        f"no text {what} {wanted} (found: {found or 'nothing'}); "
        f"name the one that holds the evaluation item with the step's `field` option"
    )


def _raise(problems: list[Problem], path: Path) -> None:
    if problems:
        raise InvalidFile(problems[:_MAX_PROBLEMS], total=len(problems), source=str(path))


@register_step
class DecontaminateStep(Step):
    """Reject records sharing `min_overlap` or more word n-grams with one evaluation item."""

    name = "decontaminate"
    per_doc = True
    options = DecontaminateOptions
    config: DecontaminateOptions

    def __init__(self, options: Mapping[str, Any] | StepOptions | None = None) -> None:
        super().__init__(options)
        # Read the files now, so a bad one is reported with the other option problems before
        # any step runs.
        self.index = build_index(self.config)

    def run(self, docs: Sequence[Doc], context: Context) -> StepResult:
        index = self.index
        result = StepResult()
        if index.ignored:
            result.counts["eval_items_ignored"] = index.ignored
        for doc in docs:
            rejection = self._check(doc, index)
            if rejection is not None:
                result.rejected[doc.id] = rejection
                result.counts["contaminated"] += 1
        return result

    def _check(self, doc: Doc, index: EvalIndex) -> Rejection | None:
        words = _words(doc.text, self.config.normalise)
        hits: Counter[int] = Counter()
        first: dict[int, Gram] = {}
        seen: set[Gram] = set()
        for size in (self.config.n, *sorted(index.short_lengths)):
            for gram in _ngrams(words, size):
                item = index.grams.get(gram)
                if item is None or gram in seen:
                    continue
                seen.add(gram)
                hits[item] += 1
                first.setdefault(item, gram)
        if not hits:
            return None
        item, overlap = min(hits.items(), key=lambda kv: (-kv[1], kv[0]))
        if overlap < self.config.min_overlap:
            return None
        found = index.items[item]
        return Rejection(
            "contaminated",
            {
                "file": found.file,
                "item": found.index,
                "line": found.line,
                "ngram": " ".join(first[item]),
                "overlap": overlap,
            },
        )
