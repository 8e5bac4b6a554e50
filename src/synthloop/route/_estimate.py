"""`estimate_error`: how often the automatic acceptances are wrong, from the audit sample.

An audit record is one that cleared the threshold and was queued for humans instead of being
accepted unseen (metadata `route.decision == "audit"`, with the value it would have had in
`route.auto_final`). Once humans have decided it, it is an error when their value differs from
that would-be value on any question the would-be value answers. Because the sample is uniform
over the would-be acceptances, its error rate estimates the rate among the records accepted
unseen, given with the Wilson 95% interval.

Decided by humans: accepted with a final value, or annotated (then the most common submitted
answer per question, ties going to the earliest). Disputed records count as waiting (not in the
estimate) until a reviewer or `synthloop aggregate` settles them, as queued ones do.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from synthloop.quality.dataset import wilson_interval
from synthloop.records import Record
from synthloop.route._answers import answer_key
from synthloop.settings import Settings
from synthloop.store.dataset import Dataset

__all__ = ["ErrorEstimate", "estimate_error"]

_READ = ("accepted", "queued", "annotated", "disputed")


@dataclass
class ErrorEstimate:
    """`errors` of `audited` human-decided audit records differed from the automatic value;
    `rate` and its 95% interval (`low`, `high`) are None before any is decided. `unreviewed`:
    records accepted without a human, which the rate is about. `waiting`: audit records not
    decided yet."""

    audited: int
    errors: int
    rate: float | None
    low: float | None
    high: float | None
    unreviewed: int
    waiting: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_error(dataset: Dataset) -> ErrorEstimate:
    """The error rate of the dataset's automatic acceptances, from its decided audit records."""
    questions = {q.name: q for q in dataset.settings.questions}
    audited = errors = unreviewed = waiting = 0
    for record in dataset.records(status=_READ):
        route = record.metadata.get("route")
        decision = route.get("decision") if isinstance(route, dict) else None
        if decision == "auto" and record.status == "accepted":
            unreviewed += 1
        if decision != "audit" or not isinstance(route, dict):
            continue
        human = _human_value(dataset.settings, record)
        if human is None:
            waiting += 1
            continue
        audited += 1
        auto = route.get("auto_final") or {}
        errors += any(
            name in questions
            and answer_key(questions[name], human.get(name)) != answer_key(questions[name], value)
            for name, value in auto.items()
        )
    interval = wilson_interval(errors, audited)
    low, high = interval if interval is not None else (None, None)
    rate = errors / audited if audited else None
    return ErrorEstimate(audited, errors, rate, low, high, unreviewed, waiting)


def _human_value(settings: Settings, record: Record) -> dict[str, Any] | None:
    """The humans' answer to the record, or None while they have not decided it."""
    if record.status == "accepted":
        return record.final
    if record.status != "annotated":
        return None
    answers = [r.values for r in record.responses if r.status == "submitted"]
    if not answers:
        return None
    value: dict[str, Any] = {}
    for question in settings.questions:
        given = [a[question.name] for a in answers if question.name in a]
        if given:
            counts = Counter(answer_key(question, v) for v in given)
            best = max(counts.values())
            value[question.name] = next(v for v in given if counts[answer_key(question, v)] == best)
    return value
