"""A dataset's submitted answers to one question, in the long form every quality measure reads."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from synthloop.errors import SynthloopError
from synthloop.quality.answers import Answers
from synthloop.records import Record
from synthloop.settings import Question
from synthloop.store.dataset import Dataset

__all__ = ["answers_for", "answers_of", "as_value", "question_named", "submitted"]


def question_named(dataset: Dataset, name: str) -> Question:
    names = [q.name for q in dataset.settings.questions]
    if name not in names:
        raise SynthloopError(
            f"question {name!r} is not a question of dataset {dataset.name!r} "
            f"(questions: {', '.join(names) or 'none'})"
        )
    return dataset.settings.question(name)


def as_value(question: Question, value: Any) -> Hashable:
    """An answer as a hashable value: multi_label a sorted tuple, ranking a tuple (best first),
    rating a number, label and text a string. Span answers have no hashable form."""
    if question.type == "multi_label":
        return tuple(sorted(value))
    if question.type == "ranking":
        return tuple(value)
    if question.type == "rating":
        return float(value) if isinstance(value, float) else int(value)
    if question.type == "span":
        raise ValueError(
            f"question {question.name!r} is a span question: span answers are not aggregated "
            "or measured here; pick a label, multi_label, rating, ranking or text question"
        )
    return str(value)


def submitted(record: Record) -> list[Any]:
    """A record's submitted responses (drafts and discarded ones do not count)."""
    return [r for r in record.responses if r.status == "submitted"]


def answers_for(
    dataset: Dataset, question: str | Question, records: Iterable[Record] | None = None
) -> Answers:
    """Submitted answers to `question`: item = record external id, worker = username.

    Records with no submitted answer to it are absent. `records` defaults to every record.
    """
    q = question_named(dataset, question) if isinstance(question, str) else question
    return answers_of(q, dataset.records() if records is None else records)


def answers_of(question: Question, records: Iterable[Record]) -> Answers:
    """Submitted answers to `question` on `records` (see `answers_for`)."""
    triples = (
        (record.external_id, response.user, as_value(question, response.values[question.name]))
        for record in records
        for response in submitted(record)
        if response.values.get(question.name) is not None
    )
    return Answers.from_triples(triples)
