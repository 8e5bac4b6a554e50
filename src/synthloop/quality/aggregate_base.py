"""The one result every aggregation method returns, and the array helpers the models share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from synthloop.quality.answers import Answers

__all__ = ["Aggregate", "FloatArray"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Aggregate:
    """Aggregated answers: one label per item, in `item_ids` order.

    `posteriors[i, v]` is the weight the method puts on `values[v]` for item `i` (a probability
    for the label models, a vote or weight share for the others); `confidence[i]` is the
    posterior of the chosen label. `reliability[w]` scores `worker_ids[w]` on the method's own
    scale (agreement with the majority, expected accuracy, probability of not spamming, the
    weight used). `iterations` is 0 for the closed-form methods.
    """

    labels: list[Any]
    confidence: FloatArray
    posteriors: FloatArray
    reliability: FloatArray
    method: str
    iterations: int
    item_ids: list[Any]
    worker_ids: list[Any]
    values: list[Any]

    def to_rows(self) -> list[tuple[Any, Any, float]]:
        """(item_id, label, confidence) per item, in `item_ids` order."""
        return [
            (item, label, float(conf))
            for item, label, conf in zip(self.item_ids, self.labels, self.confidence, strict=True)
        ]

    def label_of(self) -> dict[Any, Any]:
        """item_id -> label."""
        return dict(zip(self.item_ids, self.labels, strict=True))


def build(
    answers: Answers,
    posteriors: FloatArray,
    chosen: IntArray,
    reliability: FloatArray,
    method: str,
    iterations: int,
) -> Aggregate:
    """An `Aggregate` whose labels are `answers.values[chosen[i]]`."""
    rows = np.arange(answers.n_items)
    return Aggregate(
        labels=[answers.values[v] for v in chosen.tolist()],
        confidence=posteriors[rows, chosen] if answers.n_items else np.zeros(0),
        posteriors=posteriors,
        reliability=reliability,
        method=method,
        iterations=iterations,
        item_ids=list(answers.item_ids),
        worker_ids=list(answers.worker_ids),
        values=list(answers.values),
    )


def empty(answers: Answers, method: str) -> Aggregate:
    """The aggregate of no answers at all: no items, nothing to estimate."""
    return build(
        answers,
        np.zeros((0, answers.n_values)),
        np.zeros(0, np.int64),
        np.full(answers.n_workers, np.nan),
        method,
        0,
    )


def vote_shares(answers: Answers) -> FloatArray:
    """items x values: the share of each item's answers that gave each value (rows sum to 1)."""
    counts = answers.counts()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    return np.asarray(shares, dtype=np.float64)


def per_worker_mean(answers: Answers, per_answer: FloatArray) -> FloatArray:
    """The mean of `per_answer` over each worker's answers, by `worker_ids`."""
    total = np.bincount(answers.worker, weights=per_answer, minlength=answers.n_workers)
    n = np.bincount(answers.worker, minlength=answers.n_workers)
    return total / np.maximum(n, 1)


def sum_by_item(answers: Answers, per_answer: FloatArray) -> FloatArray:
    """items x columns: `per_answer` (answers x columns) summed over each item's answers."""
    columns = per_answer.shape[1]
    out = np.empty((answers.n_items, columns))
    for c in range(columns):  # a loop over classes, not answers: each step is one bincount
        out[:, c] = np.bincount(answers.item, weights=per_answer[:, c], minlength=answers.n_items)
    return out


def normalise_log(log_post: FloatArray) -> tuple[FloatArray, float]:
    """Rows of log-probabilities to probabilities, and the total log normaliser (the log-lik)."""
    top = log_post.max(axis=1, keepdims=True)
    post = np.exp(log_post - top)
    norm = post.sum(axis=1, keepdims=True)
    post /= norm
    loglik = float((np.log(norm) + top).sum())
    return np.asarray(post, dtype=np.float64), loglik


def check_iterations(max_iter: int, tol: float) -> None:
    if max_iter < 1:
        raise ValueError(f"max_iter={max_iter} must be at least 1; pass max_iter=100 or more")
    if tol < 0:
        raise ValueError(f"tol={tol} must not be negative; pass tol=1e-6 or 0 to run max_iter")


def check_smoothing(smoothing: float) -> None:
    if not smoothing > 0:
        raise ValueError(
            f"smoothing={smoothing} must be positive: it keeps probabilities away from zero; "
            "pass e.g. smoothing=0.01"
        )
