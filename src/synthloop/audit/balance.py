"""Counterfactual balance: do records that mention a demographic group get other labels?

A group is a small list of words (gendered words by default; any mapping can be passed). For
each label question, the share of each label among records that mention the group is set
against the share among all labelled records. The gap is the total variation distance (half the
sum of absolute share differences, 0 = same mix, 1 = disjoint); a group is flagged when it holds
at least MIN_RECORDS records and the gap reaches FLAG_DISTANCE. Counts are always shown, so a
flag on a handful of records can be read for what it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from synthloop.audit.sections import counts_here
from synthloop.audit.values import current_value, words
from synthloop.errors import SynthloopError
from synthloop.records import Record
from synthloop.settings import LabelQuestion, Settings

__all__ = [
    "DEFAULT_TERMS",
    "FLAG_DISTANCE",
    "MIN_RECORDS",
    "Balance",
    "BalanceGroup",
    "BalanceQuestion",
    "check_terms",
]

DEFAULT_TERMS: Mapping[str, Sequence[str]] = {
    "female": (
        "she", "her", "hers", "herself", "woman", "women", "girl", "girls", "female", "mother",
        "daughter", "sister", "wife", "mrs", "ms",
    ),
    "male": (
        "he", "him", "his", "himself", "man", "men", "boy", "boys", "male", "father", "son",
        "brother", "husband", "mr",
    ),
}  # fmt: skip
FLAG_DISTANCE = 0.2
MIN_RECORDS = 5


@dataclass
class BalanceGroup:
    group: str
    records: int
    counts: dict[str, int]
    distance: float | None
    flagged: bool


@dataclass
class BalanceQuestion:
    """One label question: its labels, their counts over all labelled records, and per group."""

    question: str
    labels: list[str]
    records: int
    counts: dict[str, int]
    groups: list[BalanceGroup]


def check_terms(terms: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """The term list as lower-cased word sets; a group without words or a word that is not a
    string is an error naming it."""
    found: dict[str, set[str]] = {}
    for group, items in terms.items():
        if (
            not isinstance(items, list | tuple | set | frozenset)
            or not items
            or not all(isinstance(w, str) for w in items)
        ):
            raise SynthloopError(
                f"demographic terms: group {group!r} needs a list of words, got {items!r}; "
                "write e.g. {female: [she, her, woman], male: [he, him, man]}"
            )
        found[str(group)] = {w.lower() for w in items}
    return found


class Balance:
    def __init__(self, settings: Settings, terms: Mapping[str, Sequence[str]]) -> None:
        self.settings = settings
        self.terms = check_terms(terms)
        self.questions = [
            q for q in settings.questions if isinstance(q, LabelQuestion) and q.type == "label"
        ]
        self.all: dict[str, Counter[str]] = {q.name: Counter() for q in self.questions}
        self.by_group: dict[str, dict[str, Counter[str]]] = {
            q.name: {g: Counter() for g in self.terms} for q in self.questions
        }

    def add(self, record: Record) -> None:
        if not counts_here(record) or not self.questions:
            return
        seen = words(record, self.settings)
        groups = [g for g, group_words in self.terms.items() if seen & group_words]
        for q in self.questions:
            value = current_value(record, q.name)
            if not isinstance(value, str):
                continue
            self.all[q.name][value] += 1
            for group in groups:
                self.by_group[q.name][group][value] += 1

    def result(self) -> list[BalanceQuestion]:
        return [self._question(q) for q in self.questions if self.all[q.name]]

    def _question(self, question: LabelQuestion) -> BalanceQuestion:
        overall = self.all[question.name]
        total = sum(overall.values())
        groups = []
        for group, counts in sorted(self.by_group[question.name].items()):
            n = sum(counts.values())
            distance = _distance(counts, overall, question.labels) if n else None
            flagged = n >= MIN_RECORDS and distance is not None and distance >= FLAG_DISTANCE
            groups.append(
                BalanceGroup(group, n, {k: counts[k] for k in question.labels}, distance, flagged)
            )
        labels = list(question.labels)
        return BalanceQuestion(
            question.name, labels, total, {k: overall[k] for k in labels}, groups
        )


def _distance(counts: Counter[str], overall: Counter[str], labels: Sequence[str]) -> float:
    n, total = sum(counts.values()), sum(overall.values())
    return 0.5 * sum(abs(counts[k] / n - overall[k] / total) for k in labels)
