"""How sure an agreement figure is, and who agrees with whom: a bootstrap interval over items and
an annotator x annotator matrix."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from synthloop.quality.agreement import AgreementUndefined, _no_pairs, as_answers, cohen_kappa
from synthloop.quality.answers import Answers

__all__ = ["Agreement", "Pairwise", "agreement_interval", "pairwise_matrix"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Measure = Callable[[Answers], float]
PairMeasure = Callable[[Sequence[Any], Sequence[Any]], float]


@dataclass(frozen=True)
class Agreement:
    """An agreement estimate with its bootstrap interval; unpacks as (value, low, high).

    `n_items` and `n_answers` count what the interval resampled (items with 2 or more answers);
    `n_undefined` counts resamples where the measure had no value (e.g. no variation left),
    which the interval leaves out.
    """

    value: float
    low: float
    high: float
    n_items: int
    n_answers: int
    confidence: float = 0.95
    n_resamples: int = 0
    n_undefined: int = 0

    def __iter__(self) -> Iterator[float]:
        return iter((self.value, self.low, self.high))

    def to_dict(self) -> dict[str, float | int]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "n_items": self.n_items,
            "n_answers": self.n_answers,
            "confidence": self.confidence,
            "n_resamples": self.n_resamples,
            "n_undefined": self.n_undefined,
        }


def agreement_interval(
    answers: Answers | Any,
    measure: Measure,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Agreement:
    """`measure` on the answers and a percentile bootstrap interval: `n` resamples of the items
    (with replacement, a drawn-twice item counting as two), the same for the same `seed`.

    Items with fewer than 2 answers carry no agreement and are left out of the resampling. Use
    `functools.partial(krippendorff_alpha, level="interval")` to fix a measure's options.
    """
    if n < 1:
        raise ValueError(f"agreement_interval needs n >= 1 resamples; got {n}")
    if not 0 < level < 1:
        raise ValueError(f"agreement_interval level is a confidence in (0, 1); got {level}")
    data = _pairable(as_answers(answers))
    value = float(measure(data))
    replicates = np.array([_replicate(data, measure, rng) for rng in _streams(seed, n)])
    valid = replicates[~np.isnan(replicates)]
    if valid.size == 0:
        raise AgreementUndefined(
            f"the measure was undefined on all {n} bootstrap resamples; no interval can be given"
        )
    tail = (1 - level) / 2
    low, high = np.quantile(valid, [tail, 1 - tail])
    return Agreement(
        value=value,
        low=float(low),
        high=float(high),
        n_items=data.n_items,
        n_answers=len(data),
        confidence=level,
        n_resamples=n,
        n_undefined=int(n - valid.size),
    )


def _streams(seed: int, n: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def _pairable(answers: Answers) -> Answers:
    """The answers to items with 2 or more answers, sorted by item and renumbered 0..k-1."""
    if len(answers) == 0:
        raise AgreementUndefined("no answers: agreement needs items answered by 2 or more workers")
    per_item = np.bincount(answers.item, minlength=answers.n_items)
    rows = np.flatnonzero(per_item[answers.item] >= 2)
    if rows.size == 0:
        raise _no_pairs(answers)
    rows = rows[np.argsort(answers.item[rows], kind="stable")]
    kept, item = np.unique(answers.item[rows], return_inverse=True)
    return Answers(
        item=item.astype(np.int64),
        worker=answers.worker[rows],
        value=answers.value[rows],
        item_ids=[answers.item_ids[i] for i in kept],
        worker_ids=answers.worker_ids,
        values=answers.values,
    )


def _replicate(data: Answers, measure: Measure, rng: np.random.Generator) -> float:
    """The measure on one resample of `data`'s items (data sorted by item)."""
    per_item = np.bincount(data.item, minlength=data.n_items)
    starts = np.cumsum(per_item) - per_item
    drawn = rng.integers(0, data.n_items, data.n_items)
    sizes = per_item[drawn]
    within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    rows = np.repeat(starts[drawn], sizes) + within
    sample = Answers(
        item=np.repeat(np.arange(data.n_items, dtype=np.int64), sizes),
        worker=data.worker[rows],
        value=data.value[rows],
        item_ids=data.item_ids,  # only the count matters: positions stand in for drawn items
        worker_ids=data.worker_ids,
        values=data.values,
    )
    try:
        return float(measure(sample))
    except AgreementUndefined:
        return math.nan


@dataclass(frozen=True)
class Pairwise:
    """`values[i, j]`: the measure between workers i and j on the items both answered (NaN when
    they share none or the measure is undefined there, and on the diagonal); `shared[i, j]`: how
    many items they share (`shared[i, i]`: how many items worker i answered)."""

    values: FloatArray
    shared: IntArray
    worker_ids: list[Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "worker_ids": list(self.worker_ids),
            "values": [[None if math.isnan(v) else float(v) for v in row] for row in self.values],
            "shared": self.shared.tolist(),
        }


def pairwise_matrix(answers: Answers | Any, measure: PairMeasure = cohen_kappa) -> Pairwise:
    """`measure(a, b)` between every two workers over the items both answered, `a` and `b`
    their answer values aligned by item. Fix options with `functools.partial`, e.g.
    `partial(cohen_kappa, weights="linear", values=[1, 2, 3, 4, 5])`."""
    data = as_answers(answers)
    w = data.n_workers
    values = np.full((w, w), np.nan)
    shared = np.zeros((w, w), dtype=np.int64)
    np.add.at(shared, (data.worker, data.worker), 1)
    left, right = _co_answers(data)
    key = data.worker[left] * w + data.worker[right]
    order = np.argsort(key, kind="stable")
    left, right, key = left[order], right[order], key[order]
    pairs, starts, counts = np.unique(key, return_index=True, return_counts=True)
    first, second = np.divmod(pairs, w)
    shared[first, second] = shared[second, first] = counts
    for i, j, start, count in zip(first, second, starts, counts, strict=True):
        span = slice(start, start + count)
        a = [data.values[v] for v in data.value[left[span]]]
        b = [data.values[v] for v in data.value[right[span]]]
        # undefined stays NaN: e.g. both gave one and the same label on everything they share
        with contextlib.suppress(AgreementUndefined):
            values[i, j] = values[j, i] = measure(a, b)
    return Pairwise(values=values, shared=shared, worker_ids=list(data.worker_ids))


def _co_answers(data: Answers) -> tuple[IntArray, IntArray]:
    """Row indices (x, y) of every two answers to the same item with worker[x] < worker[y]."""
    order = np.lexsort((data.worker, data.item))
    item = data.item[order]
    starts = np.flatnonzero(np.r_[True, item[1:] != item[:-1]])
    group = np.diff(np.r_[starts, item.size])
    width = np.repeat(group, group)
    left = np.repeat(np.arange(item.size), width)
    right = np.repeat(starts, group)[left] + (
        np.arange(left.size) - np.repeat(np.cumsum(width) - width, width)
    )
    later = right > left  # sorted by worker within an item, so this is worker[x] < worker[y]
    return order[left[later]], order[right[later]]
