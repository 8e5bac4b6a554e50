"""Pairwise preferences and rankings: Bradley-Terry strengths fitted by MM (Hunter 2004)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthloop.quality.aggregate_base import (
    Aggregate,
    FloatArray,
    IntArray,
    check_iterations,
    empty,
    vote_shares,
)
from synthloop.quality.answers import Answers

__all__ = ["Ranking", "bradley_terry", "ranked_answers", "ranking_pairs"]


@dataclass(frozen=True, eq=False)
class Ranking:
    """Bradley-Terry strengths: P(a beats b) = s[a] / (s[a] + s[b]).

    Strengths are relative to the prior's reference opponent, whose strength is 1; `order`
    lists the options best first (equal strengths keep first-seen order).
    """

    options: list[Any]
    scores: FloatArray
    iterations: int
    order: list[Any] = field(init=False)

    def __post_init__(self) -> None:
        best_first = np.argsort(-self.scores, kind="stable")
        object.__setattr__(self, "order", [self.options[i] for i in best_first])

    def probability(self, a: Hashable, b: Hashable) -> float:
        """P(`a` is preferred to `b`) under the fitted model."""
        sa, sb = (float(self.scores[self.options.index(o)]) for o in (a, b))
        return sa / (sa + sb)


def ranking_pairs(ranking: Sequence[Hashable]) -> list[tuple[Hashable, Hashable]]:
    """A best-first ranking as its (winner, loser) pairs: (a, b, c) -> (a, b), (a, c), (b, c)."""
    return [(win, lose) for i, win in enumerate(ranking) for lose in ranking[i + 1 :]]


def bradley_terry(
    comparisons: Iterable[tuple[Hashable, Hashable]],
    prior: float = 0.1,
    max_iter: int = 1000,
    tol: float = 1e-8,
) -> Ranking:
    """Bradley-Terry strengths from (winner, loser) pairs.

    `prior` gives every option that many virtual wins and losses against a reference opponent of
    strength 1 (a gamma prior), so an option that never lost, never won, or sits in a separate
    component still gets a finite strength; `prior=0` is plain maximum likelihood and diverges
    on such data.
    """
    pairs = list(comparisons)
    options = list(dict.fromkeys(o for pair in pairs for o in pair))
    index = {o: i for i, o in enumerate(options)}
    winner = np.fromiter((index[w] for w, _ in pairs), np.int64, len(pairs))
    loser = np.fromiter((index[lo] for _, lo in pairs), np.int64, len(pairs))
    scores, iterations = fit_bradley_terry(winner, loser, len(options), prior, max_iter, tol)
    return Ranking(options=options, scores=scores, iterations=iterations)


def fit_bradley_terry(
    winner: IntArray, loser: IntArray, n_options: int, prior: float, max_iter: int, tol: float
) -> tuple[FloatArray, int]:
    """MM updates s_i <- wins_i / sum_j n_ij / (s_i + s_j), plus the prior's virtual games."""
    check_iterations(max_iter, tol)
    if prior < 0:
        raise ValueError(f"prior={prior} must be >= 0; pass e.g. prior=0.1")
    wins = np.bincount(winner, minlength=n_options).astype(np.float64) + prior
    scores = np.ones(n_options)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        inverse = 1.0 / (scores[winner] + scores[loser])
        games = np.bincount(winner, weights=inverse, minlength=n_options).astype(np.float64)
        games += np.bincount(loser, weights=inverse, minlength=n_options)
        games += 2 * prior / (scores + 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            updated = wins / games
        if not np.isfinite(updated).all() or (updated == 0).any():
            raise ValueError(
                "Bradley-Terry has no finite solution: some option never won or never lost; "
                "pass prior > 0 (e.g. 0.1)"
            )
        change = float(np.abs(np.log(updated / scores)).max()) if n_options else 0.0
        scores = updated
        if change <= tol:
            break
    return scores, iterations


def ranked_answers(
    answers: Answers, prior: float = 0.1, max_iter: int = 1000, tol: float = 1e-8
) -> Aggregate:
    """Per item, the consensus ranking of its options by Bradley-Terry over all its answers.

    Each answer is a best-first tuple of options (a pairwise preference is a ranking of two);
    every item gets its own strengths, fitted together in one vectorised MM run. The label is
    the options best first; confidence is P(top option beats the runner-up); a worker's
    reliability is the share of their implied pairs that agree with the consensus.
    """
    if not len(answers):
        return empty(answers, "bradley-terry")
    names = list(dict.fromkeys(o for v in answers.values for o in v))
    winner, loser, source = _answer_pairs(answers, {o: i for i, o in enumerate(names)})
    keys, flat = np.unique(np.concatenate([winner, loser]), return_inverse=True)
    half = len(winner)
    scores, iterations = fit_bradley_terry(
        flat[:half], flat[half:], len(keys), prior, max_iter, tol
    )
    item, option = np.divmod(keys, len(names))
    best_first = np.lexsort((-scores, item))  # by item, then strongest first
    starts = np.searchsorted(item[best_first], np.arange(answers.n_items))
    groups = np.split(best_first, starts[1:])
    labels = [tuple(names[o] for o in option[g]) for g in groups]
    confidence = np.array([_top_two(scores[g]) for g in groups])
    agree = (scores[flat[:half]] > scores[flat[half:]]).astype(np.float64)
    pairs_per_worker = np.bincount(answers.worker[source], minlength=answers.n_workers)
    agreed = np.bincount(answers.worker[source], weights=agree, minlength=answers.n_workers)
    return Aggregate(
        labels=labels,
        confidence=confidence,
        posteriors=vote_shares(answers),
        reliability=agreed / np.maximum(pairs_per_worker, 1),
        method="bradley-terry",
        iterations=iterations,
        item_ids=list(answers.item_ids),
        worker_ids=list(answers.worker_ids),
        values=list(answers.values),
    )


def _answer_pairs(answers: Answers, names: dict[Any, int]) -> tuple[IntArray, IntArray, IntArray]:
    """Winner and loser keys (item * n_names + option) of every implied pair, and its answer."""
    winners, losers, sources = [], [], []
    for v, ranking in enumerate(answers.values):  # a loop over distinct rankings, not answers
        pairs = np.array([(names[w], names[lo]) for w, lo in ranking_pairs(ranking)], np.int64)
        rows = np.flatnonzero(answers.value == v)
        if not len(pairs) or not len(rows):
            continue
        base = answers.item[rows, None] * len(names)
        winners.append((base + pairs[None, :, 0]).ravel())
        losers.append((base + pairs[None, :, 1]).ravel())
        sources.append(np.repeat(rows, len(pairs)))
    if not winners:
        raise ValueError("no ranking answer compares two options; rankings need 2+ options")
    return np.concatenate(winners), np.concatenate(losers), np.concatenate(sources)


def _top_two(scores: FloatArray) -> float:
    if len(scores) < 2:
        return 1.0
    return float(scores[0] / (scores[0] + scores[1]))
