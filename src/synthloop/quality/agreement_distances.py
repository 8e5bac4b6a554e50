"""Distances between two answers, one per question type, usable as `krippendorff_alpha(level=...)`.

Each takes two answer values and returns a disagreement >= 0 that is 0 for equal answers. Alpha
evaluates them once per pair of *distinct* values, never per pair of answers, so plain Python is
fast enough.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Literal

__all__ = [
    "Distance",
    "Level",
    "interval_distance",
    "jaccard_distance",
    "kendall_tau_distance",
    "level_for",
    "masi_distance",
    "nominal_distance",
    "ratio_distance",
]

Distance = Callable[[Any, Any], float]
Level = Literal["nominal", "ordinal", "interval", "ratio"] | Distance


def nominal_distance(a: Any, b: Any) -> float:
    """0 when the answers are equal, 1 otherwise."""
    return 0.0 if a == b else 1.0


def interval_distance(a: float, b: float) -> float:
    """(a - b)^2: ratings on an interval scale (the usual choice for Likert ratings)."""
    return float((a - b) ** 2)


def ratio_distance(a: float, b: float) -> float:
    """((a - b) / (a + b))^2: values on a ratio scale with a true zero; 0 when both are 0."""
    total = a + b
    return 0.0 if total == 0 else float(((a - b) / total) ** 2)


def jaccard_distance(a: Collection[Any], b: Collection[Any]) -> float:
    """1 - |a & b| / |a | b| between two label sets (multi_label); two empty sets agree."""
    first, second = set(a), set(b)
    union = len(first | second)
    return 0.0 if union == 0 else 1.0 - len(first & second) / union


def masi_distance(a: Collection[Any], b: Collection[Any]) -> float:
    """MASI (Passonneau 2006): 1 - Jaccard x monotonicity, for multi_label answers.

    Monotonicity is 1 for equal sets, 2/3 when one set contains the other, 1/3 when they overlap
    otherwise and 0 when they are disjoint, so partial overlap is penalised more than Jaccard does.
    """
    first, second = set(a), set(b)
    if first == second:
        return 0.0
    if first <= second or second <= first:
        monotonicity = 2 / 3
    elif first & second:
        monotonicity = 1 / 3
    else:
        return 1.0
    return 1.0 - len(first & second) / len(first | second) * monotonicity


def kendall_tau_distance(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Share of option pairs the two rankings (best first) put in opposite order, 0..1.

    Both must rank the same options, each once; a ranking of fewer than two options has no pairs
    and is at distance 0.
    """
    if len(set(a)) != len(a) or set(a) != set(b) or len(a) != len(b):
        raise ValueError(
            f"rankings {tuple(a)!r} and {tuple(b)!r} must order the same options, each once"
        )
    n = len(a)
    if n < 2:
        return 0.0
    position = {option: i for i, option in enumerate(b)}
    ranks = [position[option] for option in a]
    discordant = sum(
        1 for i in range(n) for j in range(i + 1, n) if ranks[i] > ranks[j]
    )  # n is the number of options shown, a handful: quadratic is fine
    return discordant / (n * (n - 1) / 2)


_LEVELS: dict[str, Level] = {
    "label": "nominal",
    "multi_label": masi_distance,
    "rating": "interval",
    "ranking": kendall_tau_distance,
}


def level_for(question_type: str) -> Level:
    """The alpha level (or distance) that suits a question type's answers."""
    try:
        return _LEVELS[question_type]
    except KeyError:
        raise ValueError(
            f"no agreement distance for question type {question_type!r}: it is defined for "
            f"{', '.join(sorted(_LEVELS))}; pass a distance callable as level= for other answers"
        ) from None
