"""Where humans and machines part: corrections of synthetic text, LLM judges against humans,
annotators who rate high or low, and rankings that favour the option shown first.

Collectors like those of `sections`: `add(record)` in the one pass, then `result()`. These read
every record, whatever its status: an answer given is an answer given.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from synthloop.audit.values import NONE, human_value
from synthloop.quality.agreement import AgreementUndefined, cohen_kappa
from synthloop.records import Record
from synthloop.settings import RankingQuestion, RatingQuestion, Settings, TextQuestion

__all__ = [
    "JUDGE_PREFIX",
    "CorrectionRow",
    "Corrections",
    "JudgeAgreement",
    "JudgeRow",
    "Leniency",
    "LeniencyRow",
    "PositionBias",
    "PositionRow",
]

# Suggestions from the generate `judge` task carry the agent "judge:<model>".
JUDGE_PREFIX = "judge:"


@dataclass
class CorrectionRow:
    """Synthetic records of one generation task and model whose prefilled field humans reviewed
    through `question`, and how many of them they changed."""

    question: str
    task: str
    model: str
    reviewed: int
    corrected: int
    rate: float


class Corrections:
    def __init__(self, settings: Settings) -> None:
        self.questions = [
            q for q in settings.questions if isinstance(q, TextQuestion) and q.prefill
        ]
        self.counts: Counter[tuple[str, str, str, bool]] = Counter()

    def add(self, record: Record) -> None:
        if record.source != "synthetic":
            return
        # Offline generators (templates, augmentations) name a `generator`, not a task.
        task = str(record.provenance.get("task") or record.provenance.get("generator") or NONE)
        model = str(record.provenance.get("model") or NONE)
        for q in self.questions:
            final = human_value(record, q.name)
            original = record.fields.get(q.prefill or "")
            if isinstance(final, str) and isinstance(original, str):
                changed = _normal(final) != _normal(original)
                self.counts[(q.name, task, model, changed)] += 1

    def result(self) -> list[CorrectionRow]:
        keys = sorted({key[:3] for key in self.counts})
        rows = []
        for question, task, model in keys:
            corrected = self.counts[(question, task, model, True)]
            reviewed = corrected + self.counts[(question, task, model, False)]
            rows.append(
                CorrectionRow(question, task, model, reviewed, corrected, corrected / reviewed)
            )
        # Worst first: where synthetic data fails.
        return sorted(rows, key=lambda r: (-r.rate, r.question, r.task, r.model))


def _normal(text: str) -> str:
    """Text as compared: line endings and the whitespace around it do not make a correction."""
    return text.replace("\r\n", "\n").strip()


@dataclass
class JudgeRow:
    """An LLM judge's suggestions against the human value on the same records. `kappa` is
    Cohen's (unweighted), `weighted_kappa` quadratic (ratings only); None where undefined."""

    question: str
    agent: str
    pairs: int
    exact: int
    exact_share: float
    mean_abs_diff: float | None
    kappa: float | None
    weighted_kappa: float | None


class JudgeAgreement:
    def __init__(self, settings: Settings) -> None:
        kinds = ("label", "rating")
        self.questions = {q.name: q for q in settings.questions if q.type in kinds}
        self.pairs: dict[tuple[str, str], list[tuple[Any, Any]]] = {}

    def add(self, record: Record) -> None:
        for name, suggestion in record.suggestions.items():
            agent = suggestion.agent or ""
            if name not in self.questions or not agent.startswith(JUDGE_PREFIX):
                continue
            human = human_value(record, name)
            if human is not None and suggestion.value is not None:
                self.pairs.setdefault((name, agent), []).append((suggestion.value, human))

    def result(self) -> list[JudgeRow]:
        return [self._row(name, agent) for name, agent in sorted(self.pairs)]

    def _row(self, name: str, agent: str) -> JudgeRow:
        pairs = self.pairs[(name, agent)]
        judge, human = [p[0] for p in pairs], [p[1] for p in pairs]
        exact = sum(a == b for a, b in pairs)
        question = self.questions[name]
        values: list[Any] | None = None
        diff = weighted = None
        if isinstance(question, RatingQuestion):
            values = sorted(question.values)
            diff = statistics.fmean(abs(a - b) for a, b in pairs)
            weighted = _kappa(judge, human, values, "quadratic")
        else:
            values = list(getattr(question, "labels", []))
        kappa = _kappa(judge, human, values, None)
        return JudgeRow(name, agent, len(pairs), exact, exact / len(pairs), diff, kappa, weighted)


def _kappa(a: list[Any], b: list[Any], values: list[Any], weights: Any) -> float | None:
    try:
        return cohen_kappa(a, b, weights=weights, values=values)
    except (AgreementUndefined, ValueError):
        return None


@dataclass
class LeniencyRow:
    """One annotator's submitted ratings on one question: their mean against everyone's."""

    question: str
    annotator: str
    answers: int
    mean: float
    overall_mean: float
    difference: float


class Leniency:
    def __init__(self, settings: Settings) -> None:
        self.questions = [q.name for q in settings.questions if isinstance(q, RatingQuestion)]
        self.ratings: dict[str, dict[str, list[float]]] = {name: {} for name in self.questions}

    def add(self, record: Record) -> None:
        for response in record.responses:
            if response.status != "submitted":
                continue
            for name in self.questions:
                value = response.values.get(name)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.ratings[name].setdefault(response.user, []).append(float(value))

    def result(self) -> list[LeniencyRow]:
        rows = []
        for name in self.questions:
            by_user = self.ratings[name]
            if not by_user:
                continue
            overall = statistics.fmean(v for values in by_user.values() for v in values)
            for user, values in sorted(by_user.items()):
                mean = statistics.fmean(values)
                rows.append(LeniencyRow(name, user, len(values), mean, overall, mean - overall))
        return rows


@dataclass
class PositionRow:
    """Submitted rankings of one question and how often the option shown first was ranked
    first; with no position bias that happens about `expected_share` of the time."""

    question: str
    options: list[str]
    answers: int
    first_shown_first: int
    share: float
    expected_share: float


class PositionBias:
    def __init__(self, settings: Settings) -> None:
        self.questions = [q for q in settings.questions if isinstance(q, RankingQuestion)]
        self.counts: dict[str, Counter[bool]] = {q.name: Counter() for q in self.questions}

    def add(self, record: Record) -> None:
        for q in self.questions:
            shown = _first_shown(q, record)
            for response in record.responses:
                value = response.values.get(q.name)
                if response.status == "submitted" and isinstance(value, list) and value:
                    self.counts[q.name][value[0] == shown] += 1

    def result(self) -> list[PositionRow]:
        rows = []
        for q in self.questions:
            counts = self.counts[q.name]
            total = counts[True] + counts[False]
            if total:
                share = counts[True] / total
                rows.append(
                    PositionRow(q.name, q.options, total, counts[True], share, 1 / len(q.options))
                )
        return rows


def _first_shown(question: RankingQuestion, record: Record) -> str:
    """The option the annotate page lists first: the question's first option, except that an
    N-way ranking (N > 2) with a valid suggestion starts in the suggestion's order."""
    suggestion = record.suggestions.get(question.name)
    if (
        len(question.options) > 2
        and suggestion is not None
        and _is_ranking(suggestion.value, question.options)
    ):
        return str(suggestion.value[0])
    return question.options[0]


def _is_ranking(value: Any, options: Sequence[str]) -> bool:
    return isinstance(value, list) and sorted(map(str, value)) == sorted(options)
