"""The dataset's shape: answer distributions by group, text lengths by source, and how much
curation threw out as repeated or personal.

Each section is a collector: `add(record)` during the one pass over the dataset, then `result()`.
Distributions and lengths cover the records that count (not rejected, not failed); the curation
rates cover every record but failed ones, since rejected records are what they measure.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from synthloop.audit.values import DIMENSIONS, chat_text, current_value, group_of, text_fields
from synthloop.records import Record
from synthloop.settings import Question, Settings

__all__ = [
    "BINS",
    "CURATION_COUNTS",
    "CurationRates",
    "CurationSection",
    "Distributions",
    "LengthDistribution",
    "LengthStats",
    "Lengths",
    "QuestionDistribution",
    "counts_here",
]

BINS = 10
CURATION_COUNTS = ("duplicate", "near_duplicate", "pii_rejected", "pii_flagged", "redacted")


def counts_here(record: Record) -> bool:
    """Whether a record belongs in the distributions: it was neither rejected nor failed."""
    return record.status not in ("rejected", "failed")


@dataclass
class QuestionDistribution:
    """Answers to one question, `by[dimension][group][value]` = how many (a multi_label answer
    counts once per label). `values` lists the question's values in its own order."""

    question: str
    type: str
    values: list[str]
    by: dict[str, dict[str, dict[str, int]]]


class Distributions:
    def __init__(self, settings: Settings) -> None:
        kinds = ("label", "multi_label", "rating")
        self.questions = [q for q in settings.questions if q.type in kinds]
        self.counts: dict[str, dict[str, dict[str, Counter[str]]]] = {
            q.name: {d: {} for d in DIMENSIONS} for q in self.questions
        }

    def add(self, record: Record) -> None:
        if not counts_here(record):
            return
        groups = {d: group_of(record, d) for d in DIMENSIONS}
        for q in self.questions:
            value = current_value(record, q.name)
            if value is None:
                continue
            values = value if isinstance(value, list) else [value]
            for dimension, group in groups.items():
                counter = self.counts[q.name][dimension].setdefault(group, Counter())
                counter.update(str(v) for v in values)

    def result(self) -> list[QuestionDistribution]:
        found = []
        for q in self.questions:
            values = _values(q)
            by = {
                dimension: {
                    group: {v: counts[v] for v in values}
                    for group, counts in sorted(self.counts[q.name][dimension].items())
                }
                for dimension in DIMENSIONS
            }
            found.append(QuestionDistribution(q.name, q.type, values, by))
        return found


def _values(question: Question) -> list[str]:
    if question.type == "rating":
        return [str(v) for v in question.values]
    return list(getattr(question, "labels", []))


@dataclass
class LengthStats:
    count: int
    min: int
    max: int
    mean: float
    median: float
    bins: list[int]


@dataclass
class LengthDistribution:
    """Characters of one text field by record source; `edges` bound the histogram's bins
    (bin i holds lengths in [edges[i], edges[i + 1]))."""

    field: str
    edges: list[int]
    by_source: dict[str, LengthStats]


class Lengths:
    def __init__(self, settings: Settings) -> None:
        self.fields = text_fields(settings)
        self.lengths: dict[str, dict[str, list[int]]] = {name: {} for name in self.fields}

    def add(self, record: Record) -> None:
        if not counts_here(record):
            return
        for name in self.fields:
            text = chat_text(record.fields.get(name))
            if text is not None:
                self.lengths[name].setdefault(record.source, []).append(len(text))

    def result(self) -> list[LengthDistribution]:
        return [self._field(name) for name in self.fields if self.lengths[name]]

    def _field(self, name: str) -> LengthDistribution:
        by_source = self.lengths[name]
        longest = max(max(values) for values in by_source.values())
        width = -(-(longest + 1) // BINS)  # ceiling: the longest text falls in the last bin
        edges = [i * width for i in range(BINS + 1)]
        stats = {source: _stats(values, width) for source, values in sorted(by_source.items())}
        return LengthDistribution(name, edges, stats)


def _stats(values: list[int], width: int) -> LengthStats:
    bins = [0] * BINS
    for value in values:
        bins[min(value // width, BINS - 1)] += 1
    return LengthStats(
        count=len(values),
        min=min(values),
        max=max(values),
        mean=statistics.fmean(values),
        median=float(statistics.median(values)),
        bins=bins,
    )


@dataclass
class CurationRates:
    """Records rejected as duplicate or near duplicate or for PII, records kept with PII flagged,
    and records redacted; `rates` are shares of `records` (None with no records)."""

    records: int
    counts: dict[str, int]
    rates: dict[str, float | None]
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)


class CurationSection:
    def __init__(self) -> None:
        self.records: Counter[str] = Counter()
        self.counts: dict[str, Counter[str]] = {}

    def add(self, record: Record) -> None:
        if record.status == "failed":
            return
        self.records[record.source] += 1
        counts = self.counts.setdefault(record.source, Counter())
        counts.update(_curation_marks(record))

    def result(self) -> CurationRates:
        total = sum(self.records.values())
        counts = {key: sum(c[key] for c in self.counts.values()) for key in CURATION_COUNTS}
        rates = {key: (n / total if total else None) for key, n in counts.items()}
        by_source = {
            source: {"records": n, **{key: self.counts[source][key] for key in CURATION_COUNTS}}
            for source, n in sorted(self.records.items())
        }
        return CurationRates(total, counts, rates, by_source)


def _curation_marks(record: Record) -> list[str]:
    marks = []
    if record.status == "rejected" and record.reason in ("duplicate", "near_duplicate"):
        marks.append(record.reason)
    if record.status == "rejected" and record.reason == "pii":
        marks.append("pii_rejected")
    curation: Any = record.metadata.get("curation")
    if isinstance(curation, dict):
        if curation.get("pii"):
            marks.append("pii_flagged")
        if curation.get("redacted"):
            marks.append("redacted")
    return marks
