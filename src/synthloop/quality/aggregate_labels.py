"""Label aggregation for categorical answers: majority vote, Dawid-Skene and MACE.

The two EM models start from the soft majority vote and run over the answer arrays with
`np.bincount` (one call per class, never a Python loop over answers), so a million answers take
a fraction of a second per iteration. Both stop when the marginal log-likelihood changes by less
than `tol` relative to its size, or after `max_iter` rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthloop.quality.aggregate_base import (
    Aggregate,
    FloatArray,
    IntArray,
    build,
    check_iterations,
    check_smoothing,
    empty,
    normalise_log,
    per_worker_mean,
    sum_by_item,
    vote_shares,
)
from synthloop.quality.answers import Answers

__all__ = ["dawid_skene", "mace", "majority_vote"]


# ------------------------------------------------------------------ majority vote


def majority_vote(answers: Answers, seed: int = 0) -> Aggregate:
    """The most given value per item; ties broken at random by a generator seeded with `seed`.

    Confidence is the winning value's vote share; a worker's reliability is the share of their
    answers that agree with the majority label.
    """
    if not len(answers):
        return empty(answers, "majority")
    shares = vote_shares(answers)
    chosen = argmax_random_ties(shares, seed)
    agree = (answers.value == chosen[answers.item]).astype(np.float64)
    return build(answers, shares, chosen, per_worker_mean(answers, agree), "majority", 0)


def argmax_random_ties(scores: FloatArray, seed: int) -> IntArray:
    """Row-wise argmax, each tie settled by a seeded uniform draw among the tied columns."""
    rng = np.random.default_rng(seed)
    top = scores.max(axis=1, keepdims=True)
    keys = np.where(scores >= top - 1e-12, rng.random(scores.shape), -1.0)
    return np.asarray(keys.argmax(axis=1), dtype=np.int64)


# ------------------------------------------------------------------ Dawid-Skene


def dawid_skene(
    answers: Answers, max_iter: int = 100, tol: float = 1e-6, smoothing: float = 0.01
) -> Aggregate:
    """Dawid & Skene (1979): EM over class priors and one confusion matrix per worker.

    `smoothing` is a pseudo-count added to every confusion cell and class count (a Dirichlet
    prior), so no probability is ever zero and a worker seen once cannot veto a label. A
    worker's reliability is their expected accuracy, sum_k prior[k] * confusion[k, k]. An exact
    tie between posteriors (rare after EM) goes to the value listed first in `answers.values`.
    """
    check_iterations(max_iter, tol)
    check_smoothing(smoothing)
    if not len(answers):
        return empty(answers, "dawid-skene")
    post = vote_shares(answers)
    # One index per (worker, observed value): the row of that worker's confusion column.
    cell = answers.worker * answers.n_values + answers.value
    previous = -np.inf
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        priors, confusion = _ds_m_step(answers, post, cell, smoothing)
        post, loglik = _ds_e_step(answers, priors, confusion, cell)
        if abs(loglik - previous) <= tol * abs(loglik):
            break
        previous = loglik
    priors, confusion = _ds_m_step(answers, post, cell, smoothing)
    reliability = np.einsum("k,wkk->w", priors, confusion)
    return build(answers, post, post.argmax(axis=1), reliability, "dawid-skene", iterations)


def _ds_m_step(
    answers: Answers, post: FloatArray, cell: IntArray, smoothing: float
) -> tuple[FloatArray, FloatArray]:
    """Class priors (k) and confusion matrices (worker, true k, observed l) from posteriors."""
    n_workers, k = answers.n_workers, answers.n_values
    per_answer = post[answers.item]
    counts = np.empty((n_workers, k, k))
    for true in range(k):
        observed = np.bincount(cell, weights=per_answer[:, true], minlength=n_workers * k)
        counts[:, true, :] = observed.reshape(n_workers, k)
    counts += smoothing
    confusion = counts / counts.sum(axis=2, keepdims=True)
    priors = post.sum(axis=0) + smoothing
    return priors / priors.sum(), confusion


def _ds_e_step(
    answers: Answers, priors: FloatArray, confusion: FloatArray, cell: IntArray
) -> tuple[FloatArray, float]:
    """Posteriors over true classes per item, and the marginal log-likelihood."""
    n_workers, k = answers.n_workers, answers.n_values
    # (worker, observed, true) rows, so each answer gathers one contiguous row of k logs.
    log_conf = np.log(confusion).transpose(0, 2, 1).reshape(n_workers * k, k)
    log_post = sum_by_item(answers, log_conf[cell]) + np.log(priors)
    return normalise_log(log_post)


# ------------------------------------------------------------------ MACE


def mace(
    answers: Answers,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
    uniform_prior: bool = False,
) -> Aggregate:
    """MACE (Hovy et al. 2013), EM variant: each worker either knows the label or spams.

    Worker j answers the true label with probability theta[j]; otherwise they draw from their
    own spam distribution xi[j] (which may also hit the true label). The paper gives true labels
    a uniform prior (`uniform_prior=True`); by default the class priors are estimated by EM as
    in Dawid-Skene, because a uniform prior reads the majority class of a skewed task as spam.
    EM starts from equal trust (theta = 0.5, uniform xi and priors: a soft majority vote), and
    `smoothing` is the pseudo-count added to each expected count. A worker's reliability is
    theta: the probability that an answer of theirs is not spam.
    """
    check_iterations(max_iter, tol)
    check_smoothing(smoothing)
    if not len(answers):
        return empty(answers, "mace")
    k = answers.n_values
    params = _Mace(
        theta=np.full(answers.n_workers, 0.5),
        spam=np.full((answers.n_workers, k), 1.0 / k),
        priors=np.full(k, 1.0 / k),
    )
    cell = answers.worker * k + answers.value
    previous = -np.inf
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        post, knows, loglik = _mace_e_step(answers, params, cell)
        params = _mace_m_step(answers, post, knows, cell, smoothing, uniform_prior)
        if abs(loglik - previous) <= tol * abs(loglik):
            break
        previous = loglik
    post, _, _ = _mace_e_step(answers, params, cell)
    return build(answers, post, post.argmax(axis=1), params.theta, "mace", iterations)


@dataclass(frozen=True)
class _Mace:
    theta: FloatArray  # per worker: P(not spamming)
    spam: FloatArray  # worker x value: what a spamming worker answers
    priors: FloatArray  # per class


def _mace_e_step(
    answers: Answers, params: _Mace, cell: IntArray
) -> tuple[FloatArray, FloatArray, float]:
    """Posteriors per item, P(answer is not spam) per answer, and the marginal log-likelihood.

    P(answer a | true k) = theta * [a == k] + (1 - theta) * xi[a]: the second term is common to
    every k, so only the answer's own class gets the factor (theta + base) / base.
    """
    k = answers.n_values
    t = params.theta[answers.worker]
    base = (1.0 - t) * params.spam.reshape(-1)[cell]
    boost = np.bincount(
        answers.item * k + answers.value, weights=np.log1p(t / base), minlength=answers.n_items * k
    )
    log_post = boost.reshape(answers.n_items, k).astype(np.float64) + np.log(params.priors)
    post, loglik = normalise_log(log_post)
    loglik += float(np.log(base).sum())
    knows = post[answers.item, answers.value] * t / (t + base)
    return post, knows, loglik


def _mace_m_step(
    answers: Answers,
    post: FloatArray,
    knows: FloatArray,
    cell: IntArray,
    smoothing: float,
    uniform_prior: bool,
) -> _Mace:
    """theta, the spam distributions and the class priors from expected counts."""
    n_workers, k = answers.n_workers, answers.n_values
    n = np.bincount(answers.worker, minlength=n_workers)
    competent = np.bincount(answers.worker, weights=knows, minlength=n_workers)
    spam_counts = np.bincount(cell, weights=1.0 - knows, minlength=n_workers * k)
    spam = spam_counts.reshape(n_workers, k) + smoothing
    priors = np.ones(k) if uniform_prior else post.sum(axis=0) + smoothing
    return _Mace(
        theta=(competent + smoothing) / (n + 2 * smoothing),
        spam=spam / spam.sum(axis=1, keepdims=True),
        priors=priors / priors.sum(),
    )
