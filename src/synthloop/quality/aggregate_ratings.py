"""Numeric ratings: a reliability-weighted mean or median per item."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from synthloop.quality.aggregate_base import Aggregate, FloatArray, empty
from synthloop.quality.answers import Answers

__all__ = ["weighted_rating"]

_HALF = 1e-9  # cumulative weights within this of one half count as exactly half


def weighted_rating(
    answers: Answers,
    weights: FloatArray | Mapping[Any, float] | None = None,
    how: Literal["mean", "median"] = "mean",
) -> Aggregate:
    """Per item, the weighted mean or weighted median of its numeric answers.

    `weights` scores each worker: an array by `answers.worker_ids`, or a mapping from worker id
    (workers it leaves out weigh 1), typically the `reliability` of another aggregate; None
    weighs everyone 1. An item whose answers all weigh 0 falls back to equal weights. The
    weighted median is the smallest value whose cumulative weight reaches half the item's
    total; when a value's cumulative weight is exactly half it is the midpoint of that value
    and the next one, so equal weights give `np.median`.

    `posteriors[i, v]` is the share of item i's weight on `values[v]`; `confidence` is the share
    on the answered value nearest the label (for a median that is the label's own share).
    """
    if how not in ("mean", "median"):
        raise ValueError(f"how={how!r} is not a way to combine ratings; pass 'mean' or 'median'")
    method = f"weighted-{how}"
    per_worker = _worker_weights(answers, weights)
    if not len(answers):
        return empty(answers, method)
    numbers = _numeric_values(answers)
    share = _weight_shares(answers, per_worker[answers.worker])
    combined = share @ numbers if how == "mean" else _weighted_median(share, numbers)
    nearest = np.abs(numbers[None, :] - combined[:, None])
    nearest[share == 0] = np.inf
    confidence = share[np.arange(answers.n_items), nearest.argmin(axis=1)]
    return Aggregate(
        labels=combined.tolist(),
        confidence=confidence,
        posteriors=share,
        reliability=per_worker,
        method=method,
        iterations=0,
        item_ids=list(answers.item_ids),
        worker_ids=list(answers.worker_ids),
        values=list(answers.values),
    )


def _worker_weights(
    answers: Answers, weights: FloatArray | Mapping[Any, float] | None
) -> FloatArray:
    if weights is None:
        return np.ones(answers.n_workers)
    if isinstance(weights, Mapping):
        out = np.array([float(weights.get(w, 1.0)) for w in answers.worker_ids])
    else:
        out = np.asarray(weights, dtype=np.float64)
        if out.shape != (answers.n_workers,):
            raise ValueError(
                f"weights has shape {out.shape} but there are {answers.n_workers} workers; "
                "pass one weight per worker in `answers.worker_ids` order, or a mapping"
            )
    bad = ~np.isfinite(out) | (out < 0)
    if bad.any():
        worker = answers.worker_ids[int(np.flatnonzero(bad)[0])]
        raise ValueError(
            f"weight {out[bad][0]!r} of worker {worker!r} is not a finite number >= 0; "
            "use a reliability in [0, 1] or leave the worker out of the mapping"
        )
    return out


def _numeric_values(answers: Answers) -> FloatArray:
    try:
        return np.array([float(v) for v in answers.values])
    except (TypeError, ValueError):
        raise ValueError(
            f"weighted_rating needs numeric answers, got values {answers.values[:5]}; "
            "use majority_vote or dawid_skene for labels"
        ) from None


def _weight_shares(answers: Answers, per_answer: FloatArray) -> FloatArray:
    """items x values: each value's share of the item's total answer weight."""
    cells = answers.item * answers.n_values + answers.value
    size = answers.n_items * answers.n_values
    mass = np.bincount(cells, weights=per_answer, minlength=size)
    mass = mass.reshape(answers.n_items, answers.n_values)
    weightless = mass.sum(axis=1) == 0
    if weightless.any():  # every answer weighs 0: count them equally instead
        counts = np.bincount(cells, minlength=size).reshape(mass.shape).astype(np.float64)
        mass[weightless] = counts[weightless]
    return np.asarray(mass / mass.sum(axis=1, keepdims=True), dtype=np.float64)


def _weighted_median(share: FloatArray, numbers: FloatArray) -> FloatArray:
    order = np.argsort(numbers, kind="stable")  # `values` need not be in numeric order
    share, numbers = share[:, order], numbers[order]
    cumulative = np.cumsum(share, axis=1)
    low = (cumulative >= 0.5 - _HALF).argmax(axis=1)
    high = (cumulative > 0.5 + _HALF).argmax(axis=1)
    rows = np.arange(len(share))
    exactly_half = np.abs(cumulative[rows, low] - 0.5) <= _HALF
    middle = np.where(exactly_half, (numbers[low] + numbers[high]) / 2, numbers[low])
    return np.asarray(middle, dtype=np.float64)
