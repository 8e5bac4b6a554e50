"""One consensus value per record and question, by the method that suits the question type."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthloop.quality.aggregate import aggregate, ranked_answers, text_correction, weighted_rating
from synthloop.quality.aggregate_base import Aggregate
from synthloop.quality.dataset._answers import answers_of, as_value, submitted
from synthloop.records import Record
from synthloop.settings import Question, Settings

__all__ = ["Consensus", "consensus", "pair_agreement"]

_LABELS = ("label", "multi_label")


@dataclass
class Consensus:
    """Per question: the value (`values[q][external_id]`) and its confidence; the method used."""

    settings: Settings
    values: dict[str, dict[Any, Any]] = field(default_factory=dict)
    confidences: dict[str, dict[Any, float]] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)

    def final(self, record: Record) -> dict[str, Any]:
        """The record's consensus values, JSON-ready (tuples as lists); no value, no key."""
        found = {q: by_item.get(record.external_id) for q, by_item in self.values.items()}
        return {
            q: list(v) if isinstance(v, tuple) else v for q, v in found.items() if v is not None
        }

    def confidence(self, record: Record) -> tuple[float, str]:
        """The lowest confidence over the record's required label and multi_label questions, and
        which question it is; with no such question, the lowest agreement of its answers."""
        required = [q.name for q in self.settings.questions if q.required and q.type in _LABELS]
        if not required:
            return _answer_agreement(self.settings, record)
        scored = [(self.confidences[q].get(record.external_id, 0.0), q) for q in required]
        low, name = min(scored)
        return low, f"question {name!r}"


def consensus(settings: Settings, records: list[Record], method: str) -> Consensus:
    """Labels and multi_labels by `method`; ratings by a mean weighted by the workers' mean
    reliability on the label questions (plain when there are none), as the nearest allowed
    rating; rankings by Bradley-Terry;
    text by `text_correction`. Span questions are not aggregated."""
    found = Consensus(settings)
    labels = [q for q in settings.questions if q.type in _LABELS]
    fitted = [_store(found, q, aggregate(answers_of(q, records), method)) for q in labels]
    weights = _mean_reliability(fitted)
    for q in settings.questions:
        if q.type == "rating":
            _store(found, q, weighted_rating(answers_of(q, records), weights), bool(weights))
            # `final` must be a valid answer (import checks it): the allowed rating nearest the
            # weighted mean, the lower one on a tie.
            means = found.values[q.name]
            found.values[q.name] = {k: _nearest(q.values, m) for k, m in means.items()}
        elif q.type == "ranking":
            _store(found, q, ranked_answers(answers_of(q, records)))
        elif q.type == "text":
            found.values[q.name] = {r.external_id: _text(q, r) for r in records}
            found.methods[q.name] = "text-correction"
        elif q.type == "span":
            found.methods[q.name] = "not aggregated"
    return found


def _store(found: Consensus, q: Question, result: Aggregate, weighted: bool = False) -> Aggregate:
    found.values[q.name] = result.label_of()
    found.confidences[q.name] = dict(zip(result.item_ids, result.confidence.tolist(), strict=True))
    found.methods[q.name] = result.method + (" (reliability weights)" if weighted else "")
    return result


def _nearest(allowed: list[int], mean: float) -> int:
    return min(sorted(allowed), key=lambda v: abs(v - mean))


def _mean_reliability(fitted: list[Aggregate]) -> dict[Any, float] | None:
    """Each worker's mean reliability over the label questions they answered."""
    scores: dict[Any, list[float]] = {}
    for result in fitted:
        for worker, score in zip(result.worker_ids, result.reliability.tolist(), strict=True):
            if math.isfinite(score):
                scores.setdefault(worker, []).append(score)
    return {w: float(np.mean(s)) for w, s in scores.items()} or None


def _text(q: Question, record: Record) -> str | None:
    return text_correction(r.values.get(q.name) for r in submitted(record))


def pair_agreement(values: list[Hashable]) -> float | None:
    """The share of agreeing ordered pairs among one item's answers; None below 2 answers."""
    m = len(values)
    if m < 2:
        return None
    return sum(c * (c - 1) for c in Counter(values).values()) / (m * (m - 1))


def _answer_agreement(settings: Settings, record: Record) -> tuple[float, str]:
    scored = []
    for q in settings.questions:
        if q.type == "span":
            continue
        given = [r.values[q.name] for r in submitted(record) if r.values.get(q.name) is not None]
        share = pair_agreement([as_value(q, v) for v in given])
        if share is not None:
            scored.append((share, f"agreement on question {q.name!r}"))
    return min(scored, default=(1.0, "no question with 2 or more answers"))
