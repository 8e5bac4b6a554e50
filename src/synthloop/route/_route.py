"""`route`: which pending records humans see under a budget, and which are accepted on the
machines' word.

Every `pending` record of the dataset is split in two (see `_answers`):
- auto-acceptable (its suggestions clear the threshold): accepted with the suggestions as its
  final value, metadata `route = {"decision": "auto", ...}`; except a seeded uniform sample of
  them, `audit_rate` of them (rounded up), queued for humans instead with the value they would
  have had in `route.auto_final` (decision "audit"). Their answers estimate the error rate of
  everything accepted unseen (`estimate_error`).
- the others compete for the budget by the strategies' scores; the chosen become `queued`
  (decision "human"), the rest stay `pending` for a later round.

The budget is the number of records humans are given (a record counts once, whatever its
overlap), audit included: the audit is taken from it first, because without it nothing tells
how good the automatic acceptances are; a budget smaller than the audit sample cuts the sample
to the budget (and with no budget nothing is audited: everything that clears the threshold is
accepted, and the report says so).

Strategies (one, or several combined):
- uncertainty: 1 - margin (or 1 - confidence), largest over the questions; ties by entropy.
- disagreement: share of machine answers that disagree with the most common one.
- random: a seeded uniform score.
- diversity: not a score but a way of choosing: the candidates are clustered and the choice goes
  round the clusters, each cluster's best first (best by the other strategies combined; alone,
  its most typical record).
With several scoring strategies, each record's score is the mean of its normalised ranks (rank /
candidates, ties sharing the average rank): scales as different as a margin and a share of votes
then weigh alike.

The queue serves the highest priority first. Chosen and audit records are spread over one serve
order (audit records evenly among the others, so a round stopped halfway still has its share of
the audit) and given priorities from N (first) down to 1.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, update

from synthloop.errors import SynthloopError
from synthloop.records import Record
from synthloop.route._answers import auto_final, disagreement, uncertainty
from synthloop.route._diversity import diverse_order, vectors
from synthloop.settings import Settings
from synthloop.store import tables as t
from synthloop.store.dataset import Dataset
from synthloop.store.store import Store

__all__ = ["DEFAULT_THRESHOLD", "STRATEGIES", "RouteReport", "parse_strategies", "route"]

STRATEGIES = ("uncertainty", "disagreement", "diversity", "random")
# Used when the call gives no threshold: a suggestion must be 90% sure to go unseen.
DEFAULT_THRESHOLD = 0.9


@dataclass
class RouteReport:
    """What `route` did. `pending` = accepted + audit + human + left_pending; queued = human +
    audit. `auto_eligible` = accepted + audit. `by_strategy`: per scoring strategy, the mean
    score of the records chosen and of all candidates; for diversity, clusters and clusters
    covered."""

    dataset: str
    budget: int
    strategies: list[str]
    threshold: float
    audit_rate: float
    seed: int
    pending: int = 0
    auto_eligible: int = 0
    accepted: int = 0
    audit: int = 0
    human: int = 0
    queued: int = 0
    left_pending: int = 0
    by_strategy: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def route(
    store: Store,
    name: str,
    *,
    budget: int,
    strategy: str | Sequence[str] = "uncertainty",
    audit_rate: float = 0.05,
    threshold: float | None = None,
    seed: int = 0,
) -> RouteReport:
    """Route the dataset's pending records (see the module docstring) and write the outcome in
    one transaction. `strategy`: a name, a comma list or a sequence of names from STRATEGIES.
    `threshold`: the confidence a suggestion needs to go unseen (default DEFAULT_THRESHOLD)."""
    strategies = parse_strategies(strategy)
    cut = DEFAULT_THRESHOLD if threshold is None else threshold
    _check(budget, audit_rate, cut)
    dataset = store.dataset(name)
    report = RouteReport(name, budget, strategies, cut, audit_rate, seed)
    records = list(dataset.records(status="pending"))
    auto, contest = _split(dataset.settings, records, cut)
    audit = _audit_sample(sorted(auto), audit_rate, budget, seed)
    chosen, meta = _choose(dataset.settings, contest, strategies, budget - len(audit), seed, report)
    order = _serve_order(chosen, audit)
    changes = [_auto(r, final, cut) for r, final in auto.values() if r.id not in audit]
    for i, rid in enumerate(order):
        if rid in auto:
            record, extra = auto[rid][0], _audit_meta(auto[rid], cut, audit_rate)
        else:
            record, extra = contest[rid], meta[rid]
        changes.append(_queued(record, len(order) - i, extra))
    _write(dataset, changes)
    report.pending, report.auto_eligible = len(records), len(auto)
    report.accepted, report.audit, report.human = len(auto) - len(audit), len(audit), len(chosen)
    report.queued = len(order)
    report.left_pending = len(contest) - len(chosen)
    return report


def parse_strategies(strategy: str | Sequence[str]) -> list[str]:
    """Strategy names from a name, a comma list, or a sequence of either; unique, in order."""
    given = [strategy] if isinstance(strategy, str) else list(strategy)
    names = [n.strip() for item in given for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown or not names:
        shown = ", ".join(repr(n) for n in unknown) or "none"
        raise SynthloopError(
            f"strategy {shown} is not one of {', '.join(STRATEGIES)}; pass one or more, e.g. "
            "--strategy uncertainty,diversity"
        )
    return list(dict.fromkeys(names))


def _check(budget: int, audit_rate: float, threshold: float) -> None:
    if budget < 0:
        raise SynthloopError(
            f"budget {budget} is negative; give how many records humans may annotate (0 or more)"
        )
    if not 0.0 <= audit_rate <= 1.0:
        raise SynthloopError(
            f"audit rate {audit_rate} is outside 0..1; pass e.g. --audit-rate 0.05"
        )
    if not 0.0 <= threshold <= 1.0:
        raise SynthloopError(f"threshold {threshold} is outside 0..1; pass e.g. --threshold 0.9")


def _split(
    settings: Settings, records: list[Record], cut: float
) -> tuple[dict[int, tuple[Record, dict[str, Any]]], dict[int, Record]]:
    """{id: (record, would-be final)} of the auto-acceptable; {id: record} of the others."""
    auto: dict[int, tuple[Record, dict[str, Any]]] = {}
    contest: dict[int, Record] = {}
    for record in records:
        assert record.id is not None  # read from the store
        final = auto_final(settings, record, cut)
        if final is None:
            contest[record.id] = record
        else:
            auto[record.id] = (record, final)
    return auto, contest


def _audit_sample(ids: list[int], rate: float, budget: int, seed: int) -> set[int]:
    """A seeded uniform sample of `rate` of the ids, rounded up, at most `budget` of them."""
    # The epsilon keeps 0.07 * 100 (7.000000000000001) from rounding up to 8.
    size = min(math.ceil(rate * len(ids) - 1e-9), budget, len(ids))
    return set(random.Random(f"audit:{seed}").sample(ids, size)) if size > 0 else set()


def _serve_order(chosen: list[int], audit: set[int]) -> list[int]:
    """Chosen records in their order, audit records (by id) spread evenly among them."""
    keyed = [((i + 0.5) / len(chosen), 0, rid) for i, rid in enumerate(chosen)]
    keyed += [((j + 0.5) / len(audit), 1, rid) for j, rid in enumerate(sorted(audit))]
    return [rid for *_, rid in sorted(keyed)]


# ---------------------------------------------------------------- choosing


def _choose(
    settings: Settings,
    contest: dict[int, Record],
    strategies: list[str],
    slots: int,
    seed: int,
    report: RouteReport,
) -> tuple[list[int], dict[int, dict[str, Any]]]:
    """The ids chosen for humans, best first, and each candidate's route metadata."""
    ids = sorted(contest)
    records = [contest[i] for i in ids]
    unsure = [uncertainty(settings, r) for r in records]
    entropy = [e or 0.0 for _, e in unsure]
    columns = _scores(settings, records, unsure, [s for s in strategies if s != "diversity"], seed)
    combined = _combine(list(columns.values()))
    meta = {
        rid: {
            "decision": "human",
            "strategy": ",".join(strategies),
            "score": None if combined is None else round(float(combined[i]), 6),
            "scores": {s: round(col[i], 6) for s, col in columns.items()},
        }
        for i, rid in enumerate(ids)
    }
    if "diversity" in strategies:
        vecs = vectors([_text(settings, r) for r in records])
        picked, labels, used = diverse_order(vecs, combined, slots, seed)
        for i, rid in enumerate(ids):
            meta[rid]["cluster"] = int(labels[i])
            meta[rid]["score"] = round(float(used[i]), 6)
        covered = len({int(labels[i]) for i in picked})
        clusters = len(set(labels.tolist()))
        report.by_strategy["diversity"] = {"clusters": clusters, "covered": covered}
    else:
        assert combined is not None  # a strategy other than diversity was given
        picked = sorted(range(len(ids)), key=lambda i: (-combined[i], -entropy[i], ids[i]))[:slots]
    for s, col in columns.items():
        report.by_strategy[s] = {
            "chosen": round(float(np.mean([col[i] for i in picked])), 6) if picked else 0.0,
            "all": round(float(np.mean(col)), 6) if col else 0.0,
        }
    chosen = [ids[i] for i in picked]
    for rank, rid in enumerate(chosen, 1):
        meta[rid]["rank"] = rank
    return chosen, meta


def _scores(
    settings: Settings,
    records: list[Record],
    unsure: list[tuple[float, float | None]],
    strategies: list[str],
    seed: int,
) -> dict[str, list[float]]:
    """Each scoring strategy's score per record (higher: more worth a human)."""
    columns: dict[str, list[float]] = {}
    for name in strategies:
        if name == "uncertainty":
            columns[name] = [u for u, _ in unsure]
        elif name == "disagreement":
            columns[name] = [disagreement(settings, r) for r in records]
        else:
            rng = random.Random(f"random:{seed}")
            columns[name] = [rng.random() for _ in records]
    return columns


def _combine(columns: list[list[float]]) -> list[float] | None:
    """One column as it is; several as the mean of their normalised ranks; none: None."""
    if not columns:
        return None
    if len(columns) == 1:
        return columns[0]
    ranks = [_normalised_ranks(np.asarray(col, dtype=np.float64)) for col in columns]
    return [float(v) for v in np.mean(ranks, axis=0)]


def _normalised_ranks(values: np.ndarray[Any, np.dtype[np.float64]]) -> Any:
    """Ranks 1..n (ties share their average) over n: the best (largest) scores 1."""
    if len(values) == 0:
        return values
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    average = np.cumsum(counts) - (counts - 1) / 2
    return average[inverse] / len(values)


def _text(settings: Settings, record: Record) -> str:
    """What a reader sees of the record: its text and markdown fields and chat messages."""
    parts: list[str] = []
    for spec in settings.fields:
        value = record.fields.get(spec.name)
        if isinstance(value, str) and spec.type in ("text", "markdown"):
            parts.append(value)
        elif isinstance(value, list) and spec.type == "chat":
            parts += [str(m.get("content", "")) for m in value if isinstance(m, dict)]
    return "\n".join(parts)


# ---------------------------------------------------------------- writing


def _confidence(record: Record, final: dict[str, Any]) -> float | None:
    """The lowest score among the final value's suggestions: what cleared the threshold."""
    scores = [
        s.score for name, s in record.suggestions.items() if name in final and s.score is not None
    ]
    return round(min(scores), 6) if scores else None


def _auto(record: Record, final: dict[str, Any], cut: float) -> dict[str, Any]:
    route = {"decision": "auto", "score": _confidence(record, final), "threshold": cut}
    return _change(record, "accepted", 0.0, final, route)


def _audit_meta(item: tuple[Record, dict[str, Any]], cut: float, rate: float) -> dict[str, Any]:
    record, final = item
    return {
        "decision": "audit",
        "score": _confidence(record, final),
        "threshold": cut,
        "audit_rate": rate,
        "auto_final": final,
    }


def _queued(record: Record, priority: int, route: dict[str, Any]) -> dict[str, Any]:
    return _change(record, "queued", float(priority), record.final, route)


def _change(
    record: Record,
    status: str,
    priority: float,
    final: dict[str, Any] | None,
    route: dict[str, Any],
) -> dict[str, Any]:
    return {
        "record_id": record.id,
        "new_status": status,
        "new_priority": priority if status == "queued" else record.priority,
        "new_final": final,
        "new_metadata": {**record.metadata, "route": route},
    }


_UPDATE = (
    update(t.records)
    .where(
        t.records.c.id == bindparam("record_id"),
        t.records.c.dataset_id == bindparam("dataset"),
        t.records.c.status == "pending",  # a record changed meanwhile is left as it is now
    )
    .values(
        status=bindparam("new_status"),
        reason=None,
        priority=bindparam("new_priority"),
        final=bindparam("new_final", type_=t.Json),
        metadata=bindparam("new_metadata", type_=t.Json),
        updated_at=func.now(),
    )
)


def _write(dataset: Dataset, changes: list[dict[str, Any]]) -> None:
    if changes:
        with dataset.engine.begin() as conn:
            conn.execute(_UPDATE, [{**c, "dataset": dataset.id} for c in changes])
