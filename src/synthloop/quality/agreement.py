"""Chance-corrected agreement between annotators: percent agreement, Cohen's and Fleiss' kappa,
Krippendorff's alpha with a distance per question type.

Every measure reads the long-form `Answers` (alpha also takes a coders x units matrix). When a
measure is undefined for the data — nothing to compare, or no variation so chance agreement is
already perfect — it raises `AgreementUndefined` naming the rule, rather than returning a bare
NaN or letting numpy divide by zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from synthloop.quality.agreement_distances import Distance, Level
from synthloop.quality.answers import Answers

__all__ = [
    "AgreementUndefined",
    "as_answers",
    "cohen_kappa",
    "coincidence_matrix",
    "fleiss_components",
    "fleiss_kappa",
    "fleiss_kappa_answers",
    "krippendorff_alpha",
    "percent_agreement",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Weights = Literal["linear", "quadratic"] | None


class AgreementUndefined(ValueError):
    """The measure has no value on these answers; the message names the rule and a way out."""


# --- input -------------------------------------------------------------------------------------


def as_answers(data: Answers | Any) -> Answers:
    """`Answers` as they are, or a coders x units reliability matrix (rows = coders, columns =
    units; None or NaN = missing) as `Answers` with column indices as item ids and row indices
    as worker ids."""
    if isinstance(data, Answers):
        return data
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return _numeric_matrix(data)
    rows = [list(row) for row in data]
    if not rows or len({len(row) for row in rows}) != 1:
        raise ValueError(
            "a reliability matrix needs rows (coders) of equal length (units); got lengths "
            f"{[len(row) for row in rows]}"
        )
    triples = (
        (unit, coder, value)
        for coder, row in enumerate(rows)
        for unit, value in enumerate(row)
        if not _missing(value)
    )
    return Answers.from_triples(triples)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _numeric_matrix(matrix: npt.NDArray[Any]) -> Answers:
    if matrix.ndim != 2:
        raise ValueError(f"a reliability matrix is 2-D (coders x units); got shape {matrix.shape}")
    present = ~np.isnan(matrix) if matrix.dtype.kind == "f" else np.ones(matrix.shape, bool)
    coder, unit = np.nonzero(present)
    values, value = np.unique(matrix[coder, unit], return_inverse=True)
    unit_ids, item = np.unique(unit, return_inverse=True)
    coder_ids, worker = np.unique(coder, return_inverse=True)
    return Answers(
        item=item.astype(np.int64),
        worker=worker.astype(np.int64),
        value=value.astype(np.int64),
        item_ids=unit_ids.tolist(),
        worker_ids=coder_ids.tolist(),
        values=values.tolist(),
    )


# --- shared counting ---------------------------------------------------------------------------


def _cells(answers: Answers) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """The (item, value) cells of pairable items — items with >= 2 answers — as unit, value and
    count arrays sorted by unit, plus the number of answers of each cell's unit."""
    if len(answers) == 0:
        raise AgreementUndefined("no answers: agreement needs items answered by 2 or more workers")
    per_item = np.bincount(answers.item, minlength=answers.n_items)
    keep = per_item[answers.item] >= 2
    if not keep.any():
        raise _no_pairs(answers)
    key = answers.item[keep] * answers.n_values + answers.value[keep]
    span = answers.n_items * answers.n_values
    if span <= 8 * key.size + (1 << 20):  # few values: counting beats sorting
        dense = np.bincount(key, minlength=span)
        cells = np.flatnonzero(dense)
        counts = dense[cells]
    else:
        cells, counts = np.unique(key, return_counts=True)
    unit, value = np.divmod(cells, answers.n_values)
    return unit, value, counts.astype(np.float64), per_item[unit].astype(np.float64)


def _no_pairs(answers: Answers) -> AgreementUndefined:
    return AgreementUndefined(
        f"no item has 2 or more answers ({len(answers)} answers on {answers.n_items} items): "
        "agreement compares answers to the same item; collect overlapping answers"
    )


def percent_agreement(answers: Answers | Any) -> float:
    """Share of agreeing ordered pairs of answers (two workers, same item), pooled over items;
    items with fewer than 2 answers have no pairs and do not count."""
    _, _, count, size = _cells(as_answers(answers))
    agreeing = float(np.sum(count * (count - 1)))
    # sum over units of m(m - 1) ordered pairs, written per cell: sum_c n_c = m
    pairs = float(np.sum(count * (size - 1)))
    return agreeing / pairs


# --- Cohen -------------------------------------------------------------------------------------


def cohen_kappa(
    a: Sequence[Any],
    b: Sequence[Any],
    weights: Weights = None,
    values: Sequence[Any] | None = None,
) -> float:
    """Cohen's kappa between two raters' aligned label sequences; a pair with a missing side
    (None or NaN) is skipped.

    `values` fixes the label set and, for linear or quadratic weights, its order (default: the
    sorted labels seen). Weights penalise a disagreement by |i - j| or (i - j)^2 positions.
    """
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa needs aligned sequences; got lengths {len(a)} and {len(b)}")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not _missing(x) and not _missing(y)]
    if not pairs:
        raise AgreementUndefined("cohen_kappa: no position where both raters gave a label")
    labels = list(values) if values is not None else _sorted_labels(v for p in pairs for v in p)
    index = {label: i for i, label in enumerate(labels)}
    unknown = {v for p in pairs for v in p if v not in index}
    if unknown:
        raise ValueError(f"cohen_kappa: labels {sorted(map(repr, unknown))} are not in {labels}")
    k = len(labels)
    first = np.fromiter((index[x] for x, _ in pairs), np.int64, len(pairs))
    second = np.fromiter((index[y] for _, y in pairs), np.int64, len(pairs))
    table = np.bincount(first * k + second, minlength=k * k).reshape(k, k).astype(np.float64)
    return _kappa(table, weights)


def _sorted_labels(labels: Iterable[Any]) -> list[Any]:
    unique = list(dict.fromkeys(labels))
    try:
        return sorted(unique)
    except TypeError:  # unorderable labels: fine unweighted, first-seen order is deterministic
        return unique


def _kappa(table: FloatArray, weights: Weights) -> float:
    k = table.shape[0]
    position = np.arange(k)
    gap = np.abs(position[:, None] - position[None, :]).astype(np.float64)
    if weights is None:
        penalty = (gap > 0).astype(np.float64)
    elif weights == "linear":
        penalty = gap
    elif weights == "quadratic":
        penalty = gap**2
    else:
        raise ValueError(f"weights {weights!r} is not one of None, 'linear', 'quadratic'")
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    chance = float(np.sum(penalty * expected))
    if chance == 0:
        raise AgreementUndefined(
            "cohen_kappa is undefined when both raters give one and the same label throughout "
            "(chance agreement is already perfect); use percent_agreement"
        )
    return float(1.0 - np.sum(penalty * table) / chance)


# --- Fleiss ------------------------------------------------------------------------------------


def fleiss_components(counts: Any, row_names: Sequence[Any] | None = None) -> tuple[float, float]:
    """(P_bar, P_e_bar) of Fleiss' kappa: mean observed agreement per item and chance agreement,
    from an items x categories matrix of how many raters chose each category."""
    matrix = np.asarray(counts, dtype=np.float64)
    if matrix.ndim != 2 or matrix.size == 0:
        raise ValueError(f"fleiss_kappa needs an items x categories matrix; got {matrix.shape}")
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise ValueError("fleiss_kappa counts must be finite and >= 0")
    totals = matrix.sum(axis=1)
    raters = _common_total(totals, row_names)
    if raters < 2:
        raise AgreementUndefined(
            f"fleiss_kappa needs 2 or more ratings per item; every row has {raters:g}"
        )
    share = matrix.sum(axis=0) / totals.sum()
    per_item = (np.sum(matrix**2, axis=1) - raters) / (raters * (raters - 1))
    return float(per_item.mean()), float(np.sum(share**2))


def _common_total(totals: FloatArray, row_names: Sequence[Any] | None) -> float:
    values, counts = np.unique(totals, return_counts=True)
    # the most common total; on a tie the largest, as short rows are usually missing ratings
    usual = float(values[len(values) - 1 - np.argmax(counts[::-1])])
    odd = np.flatnonzero(totals != usual)
    if odd.size:
        names = [row_names[i] if row_names is not None else int(i) for i in odd[:10]]
        shown = " (first 10 shown)" if odd.size > 10 else ""
        raise ValueError(
            f"fleiss_kappa needs the same number of ratings on every row: rows {names} have "
            f"{[f'{t:g}' for t in totals[odd[:10]]]}{shown} while the other "
            f"{totals.size - odd.size} have {usual:g}; use krippendorff_alpha, which allows a "
            "varying number of answers per item"
        )
    return usual


def fleiss_kappa(counts: Any, row_names: Sequence[Any] | None = None) -> float:
    """Fleiss' kappa from an items x categories count matrix with the same total on every row."""
    observed, chance = fleiss_components(counts, row_names)
    if chance == 1:
        raise AgreementUndefined(
            "fleiss_kappa is undefined when every rating is the same category (chance agreement "
            "is already perfect); use percent_agreement"
        )
    return float((observed - chance) / (1 - chance))


def fleiss_kappa_answers(answers: Answers) -> float:
    """Fleiss' kappa over `Answers`; every item must have the same number of answers."""
    if len(answers) == 0:
        raise AgreementUndefined("no answers: fleiss_kappa needs items with 2 or more answers")
    return fleiss_kappa(answers.counts(), row_names=[f"item {i!r}" for i in answers.item_ids])


# --- Krippendorff ------------------------------------------------------------------------------


def krippendorff_alpha(data: Answers | Any, level: Level = "nominal") -> float:
    """Krippendorff's alpha = 1 - D_o / D_e over the coincidence matrix of pairable values.

    `data` is `Answers` or a coders x units matrix with None/NaN for missing. Units with fewer
    than 2 values are not pairable and are skipped. `level` is "nominal", "ordinal" (distance
    from the marginal frequencies of the values from c to k, in the order of `Answers.values`),
    "interval" ((c - k)^2), "ratio" (((c - k) / (c + k))^2) or a distance callable evaluated on
    pairs of distinct value objects (it should be symmetric and 0 on equal values).
    """
    answers = as_answers(data)
    unit, value, count, size = _cells(answers)
    totals = _weighted_bincount(value, count, answers.n_values)
    n = float(totals.sum())
    if np.count_nonzero(totals) < 2:
        only = answers.values[int(np.argmax(totals))]
        raise AgreementUndefined(
            f"krippendorff_alpha is undefined: all {n:g} pairable answers are {only!r}, so "
            "there is no variation to tell agreement from chance; use percent_agreement"
        )
    if level == "nominal":
        observed, expected = _nominal(unit, count, size, totals)
    elif level == "interval":
        observed, expected = _interval(answers, unit, value, count, size, totals)
    else:
        delta = _distance_matrix(answers.values, totals, level)
        first, second, weight = _pairs(unit, value, count, size)
        observed = float(np.sum(weight * delta[first, second]))
        expected = float(totals @ delta @ totals) / (n - 1)
    if expected == 0:
        raise AgreementUndefined(
            "krippendorff_alpha is undefined: the distance is 0 between every pair of values "
            "given, so there is no expected disagreement to compare with"
        )
    return float(1.0 - observed / expected)


def coincidence_matrix(data: Answers | Any) -> FloatArray:
    """values x values matrix o_ck: how often c and k are paired within units, each unit
    weighted 1 / (m_u - 1); rows and columns follow `as_answers(data).values`."""
    answers = as_answers(data)
    first, second, weight = _pairs(*_cells(answers))
    v = answers.n_values
    flat = _weighted_bincount(first * v + second, weight, v * v)
    return flat.reshape(v, v)


def _weighted_bincount(index: IntArray, weights: FloatArray, size: int = 0) -> FloatArray:
    # numpy's stubs type a weighted bincount as integer; it is float64
    return np.bincount(index, weights=weights, minlength=size).astype(np.float64)


def _pairs(
    unit: IntArray, value: IntArray, count: FloatArray, size: FloatArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """Every ordered pair of cells within a unit (a cell with itself included) and its weight
    n_uc * (n_uk - [c == k]) / (m_u - 1): the terms the coincidence matrix sums."""
    starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
    group = np.diff(np.r_[starts, unit.size])
    width = np.repeat(group, group)  # cells in each cell's unit
    start = np.repeat(starts, group)
    left = np.repeat(np.arange(unit.size), width)
    offset = np.arange(left.size) - np.repeat(np.cumsum(width) - width, width)
    right = start[left] + offset
    weight = count[left] * (count[right] - (left == right)) / (size[left] - 1)
    return value[left], value[right], weight


def _nominal(
    unit: IntArray, count: FloatArray, size: FloatArray, totals: FloatArray
) -> tuple[float, float]:
    # within a unit, mismatching ordered pairs = m^2 - sum_c n_c^2; spread over the unit's cells
    squares = np.bincount(unit, weights=count**2)[unit]
    observed = float(np.sum(count / size * (size**2 - squares) / (size - 1)))
    n = totals.sum()
    return observed, float(n**2 - np.sum(totals**2)) / (n - 1)


def _interval(
    answers: Answers,
    unit: IntArray,
    value: IntArray,
    count: FloatArray,
    size: FloatArray,
    totals: FloatArray,
) -> tuple[float, float]:
    # sum_ck n_c n_k (x_c - x_k)^2 = 2 (m sum n x^2 - (sum n x)^2): no pairs needed
    x = _numbers(answers.values, "interval")
    x = x - np.sum(totals * x) / totals.sum()  # centred, so the subtraction does not cancel
    first = np.bincount(unit, weights=count * x[value])
    second = np.bincount(unit, weights=count * x[value] ** 2)
    m = np.bincount(unit, weights=count)
    pairable = m > 0
    spread = 2 * (m * second - first**2)
    observed = float(np.sum(spread[pairable] / (m[pairable] - 1)))
    n = totals.sum()
    expected = 2 * (n * np.sum(totals * x**2) - np.sum(totals * x) ** 2) / (n - 1)
    return observed, float(expected)


def _numbers(values: list[Any], level: str) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"level {level!r} needs numeric values; got {values[:5]!r}: use 'nominal' or a "
            "distance callable for labels, label sets or rankings"
        ) from None


def _distance_matrix(values: list[Any], totals: FloatArray, level: Level) -> FloatArray:
    if level == "ordinal":
        return _ordinal(values, totals)
    if level == "ratio":
        x = _numbers(values, "ratio")
        total = x[:, None] + x[None, :]
        gap = x[:, None] - x[None, :]
        ratio = np.divide(gap, total, out=np.zeros_like(gap), where=total != 0)
        return ratio**2
    if isinstance(level, str) or not callable(level):
        raise ValueError(
            f"level {level!r} is not one of 'nominal', 'ordinal', 'interval', 'ratio' or a "
            "distance callable"
        )
    return _custom(values, level)


def _ordinal(values: list[Any], totals: FloatArray) -> FloatArray:
    try:
        ordered = sorted(values) == values
    except TypeError:
        ordered = False
    if not ordered:
        raise ValueError(
            f"level 'ordinal' needs values in their order; got {values[:5]!r}: build the "
            "Answers with values=[...] listing them lowest to highest"
        )
    # delta_ck = (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2, with c <= k (symmetric)
    cumulative = np.cumsum(totals)
    low = np.minimum.outer(np.arange(len(values)), np.arange(len(values)))
    high = np.maximum.outer(np.arange(len(values)), np.arange(len(values)))
    between = cumulative[high] - cumulative[low] + totals[low]
    return (between - (totals[:, None] + totals[None, :]) / 2) ** 2


def _custom(values: list[Any], distance: Distance) -> FloatArray:
    k = len(values)
    delta = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            delta[i, j] = delta[j, i] = float(distance(values[i], values[j]))
    return delta
