"""Agreement per question of a dataset: Krippendorff's alpha with a bootstrap interval, and
percent agreement."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

from synthloop.quality.agreement import krippendorff_alpha, percent_agreement
from synthloop.quality.agreement_distances import level_for
from synthloop.quality.agreement_interval import Agreement, agreement_interval
from synthloop.quality.dataset._answers import answers_for
from synthloop.store.dataset import Dataset

__all__ = ["QuestionAgreement", "dataset_agreement"]

# Free text and spans have no distance defined between answers here: they are reported as skipped.
_SKIPPED = ("text", "span")


@dataclass(frozen=True)
class QuestionAgreement:
    """One question's agreement: `alpha` and `percent` are None when `reason` says why."""

    question: str
    type: str
    level: str | None
    items: int
    answers: int
    alpha: Agreement | None = None
    percent: float | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["alpha"] = self.alpha.to_dict() if self.alpha else None
        return body


def dataset_agreement(
    dataset: Dataset, n_boot: int = 200, seed: int = 0
) -> dict[str, QuestionAgreement]:
    """Agreement per question, by name. Alpha is at `level_for(question.type)` with a 95%
    bootstrap interval over records (`n_boot` resamples, reproducible by `seed`). Where a measure
    is undefined (too few overlapping answers, no variation) `reason` says so; text and span
    questions are skipped with a reason."""
    records = list(dataset.records())
    return {q.name: _one(dataset, q, records, n_boot, seed) for q in dataset.settings.questions}


def _one(dataset: Dataset, q: Any, records: list[Any], n_boot: int, seed: int) -> QuestionAgreement:
    if q.type in _SKIPPED:
        reason = f"skipped: {q.type} answers have no agreement measure here"
        return QuestionAgreement(q.name, q.type, None, 0, 0, reason=reason)
    level = level_for(q.type)
    answers = answers_for(dataset, q, records)
    name = level if isinstance(level, str) else getattr(level, "__name__", "custom")
    found = QuestionAgreement(q.name, q.type, name, answers.n_items, len(answers))
    try:
        alpha = agreement_interval(answers, partial(krippendorff_alpha, level=level), n_boot, seed)
        percent = percent_agreement(answers)
    except ValueError as exc:  # AgreementUndefined, or answers a measure cannot read
        return replace(found, reason=str(exc))
    return replace(found, alpha=alpha, percent=percent)
