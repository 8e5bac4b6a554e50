"""Crowd answers and gold labels from plain CSV files, so anyone's crowd data works.

Answers: columns `item,worker,label` (extra columns ignored). Gold: `item,gold`. Real crowd data
repeats (item, worker) pairs — the worker's last answer is kept — and has blank or NaN labels,
which are skipped; both are counted, never silently dropped.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthloop.errors import InvalidFile, Problem
from synthloop.quality.answers import Answers

__all__ = ["AnswerFile", "GoldReport", "gold_accuracy", "read_answers", "read_gold"]

_MISSING = {"", "nan", "NaN", "NAN", "null", "NULL", "None", "NA", "N/A"}


@dataclass
class AnswerFile:
    answers: Answers
    rows: int  # answer rows read
    blank: int  # rows skipped for a blank or NaN label

    def notes(self) -> list[str]:
        """What was set aside, in words; empty when nothing was."""
        notes = []
        if self.blank:
            notes.append(f"{self.blank:,} answers with a blank or NaN label were skipped")
        if self.answers.dropped:
            notes.append(
                f"{self.answers.dropped:,} repeated (item, worker) answers were replaced by the "
                "worker's last answer"
            )
        return notes


def read_answers(path: Path, numeric: bool = False) -> AnswerFile:
    """Read `item,worker,label` rows; with `numeric`, labels must be numbers (for interval,
    ratio and ordinal agreement). Raises InvalidFile naming every bad line."""
    triples: list[tuple[str, str, Any]] = []
    problems: list[Problem] = []
    blank = rows = 0
    for line, row in _rows(path, ("item", "worker", "label")):
        rows += 1
        label = row["label"].strip()
        if label in _MISSING:
            blank += 1
            continue
        value: Any = label
        if numeric:
            value = _number(label)
            if value is None:
                problems.append(
                    Problem(
                        f"line {line}",
                        f"label {label!r} is not a number; "
                        "interval, ratio and ordinal levels need numeric labels",
                    )
                )
                continue
        triples.append((row["item"], row["worker"], value))
    if problems:
        raise InvalidFile(problems, source=str(path))
    if not triples:
        raise InvalidFile(
            [Problem("", "no answers with a label: nothing to measure")], source=str(path)
        )
    return AnswerFile(Answers.from_triples(triples), rows, blank)


def read_gold(path: Path) -> dict[str, str]:
    """Read `item,gold` rows; an item listed twice with two different labels is an error."""
    gold: dict[str, str] = {}
    problems: list[Problem] = []
    for line, row in _rows(path, ("item", "gold")):
        label = row["gold"].strip()
        if label in _MISSING:
            problems.append(Problem(f"line {line}", f"item {row['item']!r} has no gold label"))
        elif gold.setdefault(row["item"], label) != label:
            problems.append(
                Problem(
                    f"line {line}",
                    f"item {row['item']!r} has two gold labels: "
                    f"{gold[row['item']]!r} and {label!r}",
                )
            )
    if problems:
        raise InvalidFile(problems, source=str(path))
    if not gold:
        raise InvalidFile(
            [Problem("", "no gold rows: the file has only a header")], source=str(path)
        )
    return gold


@dataclass
class GoldReport:
    """Accuracy of aggregated labels on the gold items that have answers."""

    items: int  # gold items with an aggregated label
    correct: int
    without_answers: int  # gold items nobody answered: not counted
    unseen_labels: list[str] = field(default_factory=list)  # gold labels no worker ever gave

    @property
    def accuracy(self) -> float:
        return self.correct / self.items if self.items else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "items": self.items,
            "correct": self.correct,
            "without_answers": self.without_answers,
            "unseen_labels": self.unseen_labels,
        }


def gold_accuracy(labels: dict[str, Any], gold: dict[str, str], seen: list[Any]) -> GoldReport:
    """Compare aggregated `labels` ({item: label}) with `gold`; labels compare as text."""
    scored = [item for item in gold if item in labels]
    correct = sum(str(labels[item]) == gold[item] for item in scored)
    known = {str(v) for v in seen}
    unseen = sorted({g for g in gold.values() if g not in known})
    return GoldReport(len(scored), correct, len(gold) - len(scored), unseen)


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InvalidFile(
            [Problem("", f"cannot read the file: {exc.strerror}")], source=str(path)
        ) from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            yield from _checked(reader, required, path)
        except (csv.Error, UnicodeDecodeError) as exc:
            where = f"line {reader.line_num + 1}"
            raise InvalidFile(
                [Problem(where, f"not readable CSV text: {exc}")], source=str(path)
            ) from None


def _checked(
    reader: csv.DictReader[str], required: tuple[str, ...], path: Path
) -> Iterator[tuple[int, dict[str, str]]]:
    header = reader.fieldnames
    if not header:
        raise InvalidFile(
            [Problem("line 1", f"the file is empty: it needs a header {','.join(required)}")],
            source=str(path),
        )
    missing = [c for c in required if c not in header]
    if missing:
        raise InvalidFile(
            [
                Problem(
                    "line 1 (header)",
                    f"missing {_columns(missing)}; the header "
                    f"must name {', '.join(required)} (it has "
                    f"{', '.join(header)})",
                )
            ],
            source=str(path),
        )
    for row in reader:
        if any(row.get(c) is None for c in required):
            raise InvalidFile(
                [
                    Problem(
                        f"line {reader.line_num}",
                        f"the row has fewer cells than the header ({len(header)})",
                    )
                ],
                source=str(path),
            )
        yield reader.line_num, row


def _columns(names: list[str]) -> str:
    return ("column " if len(names) == 1 else "columns ") + ", ".join(map(repr, names))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
