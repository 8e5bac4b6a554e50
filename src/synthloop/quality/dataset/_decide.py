"""Turn the answers on a dataset's records into decisions: accepted with a final value, or
disputed with the question that fell short. A reviewer's answer is final."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from synthloop.errors import SynthloopError
from synthloop.quality.aggregate import METHODS
from synthloop.quality.dataset._answers import submitted
from synthloop.quality.dataset._consensus import Consensus, consensus
from synthloop.records import Record
from synthloop.settings import Settings
from synthloop.store.dataset import Dataset, RecordChange
from synthloop.store.users import roles

__all__ = [
    "ADJUDICABLE",
    "DECIDABLE",
    "DEFAULT_THRESHOLD",
    "DecisionReport",
    "adjudicate",
    "decide",
    "decisions",
]

# Used when neither the call nor `distribution.agreement_threshold` sets one: the aggregated
# label must be more likely than not.
DEFAULT_THRESHOLD = 0.5
# Accepted, rejected and failed records are settled; the others may (re)decide as answers come.
DECIDABLE = ("pending", "queued", "annotated", "disputed")
_LABEL_METHODS = ("majority", "dawid-skene", "mace")
# A review may settle an open record, or overrule an automatic acceptance.
ADJUDICABLE = (*DECIDABLE, "accepted")


@dataclass
class DecisionReport:
    """What `decide` did: records per outcome, the method used per question, the threshold."""

    threshold: float
    counts: dict[str, int] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "counts": self.counts, "methods": self.methods}


def decide(
    dataset: Dataset,
    method: str = "dawid-skene",
    threshold: float | None = None,
    record_ids: Collection[int] | None = None,
) -> DecisionReport:
    """Decide every record still open (status in DECIDABLE) and write the outcome in one
    transaction. Outcomes counted: `reviewer` (a reviewer's submitted answer is the final value,
    whatever the others said), `accepted` (confidence >= threshold), `disputed` (below it; the
    reason names the question), `below_overlap` (fewer submitted responses than
    `distribution.overlap`; untouched) and `settled` (accepted, rejected or failed; untouched).

    `threshold`: the argument, else `distribution.agreement_threshold`, else DEFAULT_THRESHOLD.
    `record_ids`: decide only these records (store ids); the method then sees only their answers,
    so a per-record decision is exact for "majority" and approximate for the fitted methods.
    """
    _check_method(method)
    _threshold(dataset.settings, threshold)  # a bad threshold fails before anything is read
    reviewers = {name for name, role in roles(dataset.engine).items() if role == "reviewer"}
    chosen = dataset.records() if record_ids is None else dataset.records_by_id(list(record_ids))
    changes, report = decisions(dataset.settings, chosen, reviewers, method, threshold)
    dataset.update_records(changes)
    return report


def decisions(
    settings: Settings,
    records: Iterable[Record],
    reviewers: Collection[str],
    method: str = "dawid-skene",
    threshold: float | None = None,
) -> tuple[list[RecordChange], DecisionReport]:
    """What `decide` writes for these records, worked out without touching the store: the
    changes and the report. `reviewers` are the usernames whose submitted answer is final. The
    queue calls this inside the transaction that stores the answer settling a record."""
    _check_method(method)
    chosen = _threshold(settings, threshold)
    report = DecisionReport(chosen)
    crowd, changes, counts = _sort_records(settings, records, reviewers)
    found = consensus(settings, crowd, method)
    report.methods = found.methods
    changes += [_crowd_change(record, found, chosen, method, counts) for record in crowd]
    report.counts = dict(sorted(counts.items()))
    return changes, report


def _check_method(method: str) -> None:
    if method not in _LABEL_METHODS or method not in METHODS:
        raise SynthloopError(
            f"method {method!r} does not aggregate labels; use one of {', '.join(_LABEL_METHODS)}"
        )


def adjudicate(dataset: Dataset, record_id: int, username: str) -> Record:
    """Make `username`'s submitted response the record's final value: the record becomes
    accepted with metadata `decided_by: "reviewer:<username>"`, whatever the others answered.

    This is a review; who may review is the caller's policy (`decide` treats the answers of
    users whose role is "reviewer" this way by itself, and an owner's only through here). The
    record must be one of the dataset's, in ADJUDICABLE, with a submitted response by the user.
    Returns the record as it is now."""
    found = dataset.records_by_id([record_id])
    if not found:
        raise SynthloopError(f"record {record_id} is not a record of dataset {dataset.name!r}")
    record = found[0]
    if record.status not in ADJUDICABLE:
        raise SynthloopError(
            f"record {record.external_id!r} is {record.status}; only {', '.join(ADJUDICABLE)} "
            "records can be reviewed"
        )
    mine = [r for r in submitted(record) if r.user == username]
    if not mine:
        raise SynthloopError(
            f"user {username!r} has no submitted response to record {record.external_id!r}; "
            "submit the reviewed answer first"
        )
    change = _reviewer_change(record, mine[-1])
    dataset.update_records([change])
    record.status, record.reason = change["status"], change["reason"]
    record.final, record.metadata = change["final"], change["metadata"]
    return record


def _threshold(settings: Settings, threshold: float | None) -> float:
    configured = settings.distribution.agreement_threshold
    value = threshold if threshold is not None else configured
    value = DEFAULT_THRESHOLD if value is None else value
    if not -1.0 <= value <= 1.0:
        raise SynthloopError(f"threshold {value} is outside -1..1; pass e.g. --threshold 0.7")
    return value


def _sort_records(
    settings: Settings, records: Iterable[Record], reviewers: Collection[str]
) -> tuple[list[Record], list[RecordChange], Counter[str]]:
    """Records for the crowd decision; the reviewers' decisions; the counts of the others."""
    overlap = settings.distribution.overlap
    crowd: list[Record] = []
    changes: list[RecordChange] = []
    counts: Counter[str] = Counter()
    for record in records:
        answers = submitted(record)
        by_reviewer = [r for r in answers if r.user in reviewers]
        if record.status not in DECIDABLE:
            counts["settled"] += 1
        elif by_reviewer:  # final whatever the overlap or the others: the reviewer decided
            changes.append(_reviewer_change(record, by_reviewer[-1]))
            counts["reviewer"] += 1
        elif len(answers) < overlap:
            counts["below_overlap"] += 1
        else:
            crowd.append(record)
    return crowd, changes, counts


def _reviewer_change(record: Record, response: Any) -> RecordChange:
    metadata = {**record.metadata, "decided_by": f"reviewer:{response.user}"}
    metadata.pop("confidence", None)
    return _change(record, "accepted", None, dict(response.values), metadata)


def _crowd_change(
    record: Record, found: Consensus, threshold: float, method: str, counts: Counter[str]
) -> RecordChange:
    confidence, weakest = found.confidence(record)
    metadata = {**record.metadata, "decided_by": f"aggregate:{method}", "confidence": confidence}
    if confidence >= threshold:
        counts["accepted"] += 1
        return _change(record, "accepted", None, found.final(record), metadata)
    counts["disputed"] += 1
    reason = (
        f"{weakest} confidence {confidence:.3f} is below the threshold {threshold:g} "
        f"by {threshold - confidence:.3f}"
    )
    return _change(record, "disputed", reason, record.final, metadata)


def _change(
    record: Record,
    status: str,
    reason: str | None,
    final: dict[str, Any] | None,
    metadata: dict[str, Any],
) -> RecordChange:
    assert record.id is not None  # records read from the store always have their id
    return {
        "record_id": record.id,
        "status": status,
        "reason": reason,
        "final": final,
        "metadata": metadata,
    }
