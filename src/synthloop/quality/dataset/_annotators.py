"""Per annotator: how much they answered, how often they match gold and the consensus, how fast,
how lenient, and how much the position of an option sways them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from synthloop.quality.aggregate import dawid_skene, majority_vote
from synthloop.quality.answers import Answers
from synthloop.quality.dataset._answers import answers_of, as_value, submitted
from synthloop.records import Record
from synthloop.settings import Question
from synthloop.store.dataset import Dataset
from synthloop.store.users import roles

__all__ = ["AnnotatorRow", "annotator_report", "wilson_interval"]

Gold = dict[str, dict[str, Any]]
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class AnnotatorRow:
    """One annotator's figures; None where there is no data to compute one from."""

    user: str
    role: str
    answers: int
    gold_answers: int
    gold_accuracy: float | None
    gold_interval: tuple[float, float] | None
    reliability: float | None
    consensus_agreement: float | None
    median_seconds: float | None
    leniency: float | None
    position_bias: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(successes: int, n: int, z: float = _Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% by default); None when n is 0."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def annotator_report(dataset: Dataset, gold: Gold | None = None) -> list[AnnotatorRow]:
    """One row per user with a submitted response, by username.

    Gold is `{external_id: {question: value}}`; without it, each record whose metadata holds
    `gold: {question: value}` is gold. Reliability is Dawid-Skene's per label question, averaged
    over the questions; consensus agreement is the share of their label answers equal to the
    majority label; leniency is the mean of (their rating - the item's mean rating, their own
    included) over rating questions; position bias is the share of their answers to two-option
    ranking questions that put `options[0]` first.
    """
    records = list(dataset.records())
    gold = _gold(records) if gold is None else gold
    questions = {q.name: q for q in dataset.settings.questions}
    labels = [answers_of(q, records) for q in questions.values() if q.type == "label"]
    ratings = [answers_of(q, records) for q in questions.values() if q.type == "rating"]
    pairs = [q for q in questions.values() if q.type == "ranking" and len(q.options) == 2]
    # Per metric, every (worker, score) pair; a worker's figure is the mean of theirs.
    metrics = {
        "reliability": [p for a in labels for p in _reliability(a)],
        "consensus_agreement": [p for a in labels for p in _consensus_hits(a)],
        "leniency": [p for a in ratings for p in _rating_offsets(a)],
        "position_bias": [p for q in pairs for p in _first_option_hits(q, records)],
    }
    means = {name: _means(scored) for name, scored in metrics.items()}
    role_of = roles(dataset.engine)
    users = sorted({r.user for record in records for r in submitted(record)})
    rows = []
    for user in users:
        mine = [(record, r) for record in records for r in submitted(record) if r.user == user]
        hits, total = _gold_hits(mine, gold, questions)
        rows.append(
            AnnotatorRow(
                user=user,
                role=role_of.get(user, "annotator"),
                answers=len(mine),
                gold_answers=total,
                gold_accuracy=hits / total if total else None,
                gold_interval=wilson_interval(hits, total),
                median_seconds=_median([r.duration for _, r in mine]),
                **{name: found.get(user) for name, found in means.items()},
            )
        )
    return rows


def _gold(records: list[Record]) -> Gold:
    """Gold answers from record metadata: `{"gold": {question: value}}`."""
    return {
        str(r.external_id): r.metadata["gold"]
        for r in records
        if isinstance(r.metadata.get("gold"), dict)
    }


def _gold_hits(
    mine: list[tuple[Record, Any]], gold: Gold, questions: dict[str, Question]
) -> tuple[int, int]:
    """How many of the annotator's answers to gold questions match gold, out of how many."""
    hits = total = 0
    for record, response in mine:
        for name, expected in gold.get(str(record.external_id), {}).items():
            given = response.values.get(name)
            if name not in questions or given is None:
                continue  # a gold key that is no question, or not answered: nothing to score
            total += 1
            hits += _comparable(questions[name], given) == _comparable(questions[name], expected)
    return hits, total


def _comparable(question: Question, value: Any) -> Any:
    try:
        return as_value(question, value)
    except (ValueError, TypeError):  # spans, or a gold value of another shape: compare as is
        return value


def _reliability(answers: Answers) -> Iterable[tuple[Any, float]]:
    if not len(answers):
        return []
    scores = dawid_skene(answers).reliability.tolist()
    return [(w, s) for w, s in zip(answers.worker_ids, scores, strict=True) if math.isfinite(s)]


def _consensus_hits(answers: Answers) -> Iterable[tuple[Any, float]]:
    if not len(answers):
        return []
    label_of = majority_vote(answers).labels
    return [
        (answers.worker_ids[w], float(answers.values[v] == label_of[i]))
        for i, w, v in zip(
            answers.item.tolist(), answers.worker.tolist(), answers.value.tolist(), strict=True
        )
    ]


def _rating_offsets(answers: Answers) -> Iterable[tuple[Any, float]]:
    numbers = [float(answers.values[v]) for v in answers.value.tolist()]
    items = answers.item.tolist()
    totals: dict[int, list[float]] = {}
    for i, x in zip(items, numbers, strict=True):
        totals.setdefault(i, []).append(x)
    means = {i: statistics.fmean(xs) for i, xs in totals.items()}
    return [
        (answers.worker_ids[w], x - means[i])
        for i, w, x in zip(items, answers.worker.tolist(), numbers, strict=True)
    ]


def _first_option_hits(q: Any, records: list[Record]) -> Iterable[tuple[Any, float]]:
    first = q.options[0]
    return [
        (r.user, float(r.values[q.name][0] == first))
        for record in records
        for r in submitted(record)
        if r.values.get(q.name)
    ]


def _means(scored: list[tuple[Any, float]]) -> dict[Any, float]:
    by_worker: dict[Any, list[float]] = {}
    for worker, score in scored:
        by_worker.setdefault(worker, []).append(score)
    return {w: statistics.fmean(s) for w, s in by_worker.items()}


def _median(durations: list[float | None]) -> float | None:
    known = [d for d in durations if d is not None]
    return statistics.median(known) if known else None
