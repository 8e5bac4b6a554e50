"""`audit(store, name, out)`: one pass over a dataset, the numbers in an AuditReport, and a
static HTML page showing them.

The page is one file with inline CSS and SVG charts: it opens offline, makes no request, and
can be attached to a dataset card or a review. Every text in it came from a model or an import,
so the template escapes everything.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from synthloop.audit.balance import DEFAULT_TERMS, Balance, BalanceQuestion, check_terms
from synthloop.audit.page import render_html
from synthloop.audit.people import (
    CorrectionRow,
    Corrections,
    JudgeAgreement,
    JudgeRow,
    Leniency,
    LeniencyRow,
    PositionBias,
    PositionRow,
)
from synthloop.audit.sections import (
    CurationRates,
    CurationSection,
    Distributions,
    LengthDistribution,
    Lengths,
    QuestionDistribution,
)
from synthloop.errors import SynthloopError
from synthloop.records import Record
from synthloop.store.dataset import Dataset
from synthloop.store.store import Store

__all__ = ["AuditReport", "audit", "build_report"]


@dataclass
class AuditReport:
    """The numbers the audit page shows, section by section (see each row type)."""

    dataset: str
    records: int
    statuses: dict[str, int]
    sources: dict[str, int]
    distributions: list[QuestionDistribution]
    lengths: list[LengthDistribution]
    curation: CurationRates
    corrections: list[CorrectionRow]
    judge: list[JudgeRow]
    leniency: list[LeniencyRow]
    position_bias: list[PositionRow]
    balance: list[BalanceQuestion]
    terms: dict[str, list[str]]
    out: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Collector(Protocol):
    def add(self, record: Record) -> None: ...


def build_report(
    dataset: Dataset, *, terms: Mapping[str, Sequence[str]] | None = None
) -> AuditReport:
    """Read every record of `dataset` once and compute the audit's numbers."""
    settings = dataset.settings
    terms = DEFAULT_TERMS if terms is None else terms
    check_terms(terms)
    distributions, lengths, curation = Distributions(settings), Lengths(settings), CurationSection()
    corrections, judge = Corrections(settings), JudgeAgreement(settings)
    leniency, position, balance = (
        Leniency(settings),
        PositionBias(settings),
        Balance(settings, terms),
    )
    collectors: list[_Collector] = [
        distributions, lengths, curation, corrections, judge, leniency, position, balance,
    ]  # fmt: skip
    statuses: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for record in dataset.records():
        statuses[record.status] += 1
        sources[record.source] += 1
        for collector in collectors:
            collector.add(record)
    return AuditReport(
        dataset=dataset.name,
        records=sum(statuses.values()),
        statuses=dict(sorted(statuses.items())),
        sources=dict(sorted(sources.items())),
        distributions=distributions.result(),
        lengths=lengths.result(),
        curation=curation.result(),
        corrections=corrections.result(),
        judge=judge.result(),
        leniency=leniency.result(),
        position_bias=position.result(),
        balance=balance.result(),
        terms={group: list(words) for group, words in terms.items()},
    )


def audit(
    store: Store,
    name: str,
    out: str | Path,
    *,
    terms: Mapping[str, Sequence[str]] | None = None,
) -> AuditReport:
    """Audit dataset `name` and write the report page to `out` (one HTML file).

    `terms` maps a demographic group to its words for the counterfactual balance section
    (default: DEFAULT_TERMS, gendered words).
    """
    report = build_report(store.dataset(name), terms=terms)
    path = Path(out)
    report.out = str(path)
    try:
        path.write_text(render_html(report), encoding="utf-8")
    except OSError as exc:
        raise SynthloopError(
            f"cannot write the audit report to {str(path)!r}: {exc.strerror or exc}; "
            "pick a writable path with --out"
        ) from None
    return report
