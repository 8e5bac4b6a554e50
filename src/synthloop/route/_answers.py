"""What the machines said about a record, read from what the store holds: whether it clears the
threshold (auto-acceptable, with the final value it would get), how unsure the machine is, and how
much several machine answers disagree.

What is read, and how:
- A record's machine answer to a question is its suggestion. A suggestion's `score` is read as
  the confidence of its value (the probability of the suggested label for a classifier or
  the `prelabel` task). A suggestion without a score is not confident.
- A full class distribution, when a pre-labeller knows it, may be recorded in
  `metadata["probabilities"] = {question: {value: probability}}`; uncertainty then uses its
  margin and entropy instead of the suggestion's score alone.
- Further machine answers (other judges, other pre-labellers) may be recorded in
  `metadata["machine_answers"] = {question: [{"value": ..., "agent": ...}, ...]}`; together with
  the suggestion they are the answers disagreement is measured over.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson

from synthloop.records import Record
from synthloop.settings import Question, Settings

__all__ = ["CONFIDENCE_TYPES", "answer_key", "auto_final", "disagreement", "uncertainty"]

# Question types whose suggestions carry a confidence that a threshold can judge. Text, ranking
# and span suggestions have no calibrated confidence: they may join the final value, but a
# required one without a suggestion keeps the record from being accepted automatically.
CONFIDENCE_TYPES = ("label", "multi_label", "rating")


def auto_final(settings: Settings, record: Record, threshold: float) -> dict[str, Any] | None:
    """The final value the record would get when accepted without a human, or None when it is
    not auto-acceptable.

    Auto-acceptable: every required question has a valid suggestion; on label, multi_label and
    rating questions its score is at least `threshold`; a text, ranking or span suggestion with a
    score must clear it too. The final value holds every such confident suggestion (optional
    questions included); the record needs at least one."""
    final: dict[str, Any] = {}
    for question in settings.questions:
        value = _confident_value(question, record, threshold)
        if value is not None:
            final[question.name] = value
        elif question.required:
            return None
    return final or None


def _confident_value(question: Question, record: Record, threshold: float) -> Any:
    suggestion = record.suggestions.get(question.name)
    if suggestion is None or question.check(suggestion.value, record.fields) is not None:
        return None
    if suggestion.score is None:
        return None if question.type in CONFIDENCE_TYPES else suggestion.value
    return suggestion.value if suggestion.score >= threshold else None


def uncertainty(settings: Settings, record: Record) -> tuple[float, float | None]:
    """How unsure the machine is about the record: (uncertainty, entropy), both in 0..1.

    Per label, multi_label or rating question: 1 - the margin between the two most likely values
    when a distribution is known, else 1 - the suggestion's score; a required question without a
    scored suggestion counts 1. The record's uncertainty is the largest over its questions (one
    unsure answer is enough to need a human). Entropy (normalised by log of the number of values)
    is the largest over the questions with a known distribution; None when there is none."""
    known = record.metadata.get("probabilities")
    known = known if isinstance(known, dict) else {}
    worst, entropy = 0.0, None
    for question in settings.questions:
        if question.type not in CONFIDENCE_TYPES:
            continue
        dist = _distribution(known.get(question.name))
        if dist:
            worst = max(worst, 1.0 - _margin(dist))
            entropy = max(entropy or 0.0, _entropy(dist))
            continue
        suggestion = record.suggestions.get(question.name)
        if suggestion is not None and suggestion.score is not None:
            worst = max(worst, 1.0 - min(max(suggestion.score, 0.0), 1.0))
        elif suggestion is not None or question.required:
            worst = 1.0
    return worst, entropy


def _distribution(value: Any) -> list[float]:
    if not isinstance(value, dict):
        return []
    probs = [float(p) for p in value.values() if isinstance(p, int | float) and p >= 0]
    total = sum(probs)
    return sorted((p / total for p in probs), reverse=True) if total > 0 else []


def _margin(dist: Sequence[float]) -> float:
    return dist[0] - (dist[1] if len(dist) > 1 else 0.0)


def _entropy(dist: Sequence[float]) -> float:
    if len(dist) < 2:
        return 0.0
    return -sum(p * math.log(p) for p in dist if p > 0) / math.log(len(dist))


def disagreement(settings: Settings, record: Record) -> float:
    """The share of machine answers that disagree with the most common one, on the question
    where they disagree most: 0 when they all agree or when no question has two answers.

    The answers to a question are its suggestion plus those in `metadata["machine_answers"]`;
    values are compared exactly, a multi-label answer as a set of labels."""
    extra = record.metadata.get("machine_answers")
    extra = extra if isinstance(extra, dict) else {}
    worst = 0.0
    for question in settings.questions:
        listed = extra.get(question.name)
        answers = [a.get("value") for a in listed if isinstance(a, dict)] if listed else []
        if question.name in record.suggestions:
            answers.append(record.suggestions[question.name].value)
        if len(answers) >= 2:
            top = Counter(answer_key(question, a) for a in answers).most_common(1)[0][1]
            worst = max(worst, 1.0 - top / len(answers))
    return worst


def answer_key(question: Question, value: Any) -> Any:
    """A hashable form of an answer, equal for equal answers (multi-labels in any order)."""
    if question.type == "multi_label" and isinstance(value, list):
        return frozenset(map(str, value))
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
