"""Aggregation of annotators' answers into one value per item, by a registered method.

Methods take an `Answers` and keyword options and return an `Aggregate`. The built-ins are
registered below through `register_method`, the same call an outside package makes:

    from synthloop.quality.aggregate import register_method
    register_method("my-model", my_model)        # my_model(answers, **options) -> Aggregate

Categorical labels: "majority", "dawid-skene", "mace". Numeric ratings: "weighted-mean",
"weighted-median". Rankings and pairwise preferences: "bradley-terry". Free-text corrections
follow a rule rather than a model: `text_correction`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from synthloop.quality.aggregate_base import Aggregate
from synthloop.quality.aggregate_labels import dawid_skene, mace, majority_vote
from synthloop.quality.aggregate_rankings import (
    Ranking,
    bradley_terry,
    ranked_answers,
    ranking_pairs,
)
from synthloop.quality.aggregate_ratings import weighted_rating
from synthloop.quality.aggregate_text import text_correction
from synthloop.quality.answers import Answers

__all__ = [
    "METHODS",
    "Aggregate",
    "Method",
    "Ranking",
    "aggregate",
    "bradley_terry",
    "dawid_skene",
    "mace",
    "majority_vote",
    "ranked_answers",
    "ranking_pairs",
    "register_method",
    "text_correction",
    "weighted_rating",
]


# method(answers, **options) -> Aggregate; options differ per method, hence the `...`.
Method = Callable[..., Aggregate]


METHODS: dict[str, Method] = {}


def register_method(name: str, method: Method, *, replace: bool = False) -> None:
    """Make `method` available as `aggregate(answers, method=name)`."""
    if name in METHODS and not replace:
        raise ValueError(
            f"aggregation method {name!r} is already registered; pick another name "
            "or pass replace=True"
        )
    METHODS[name] = method


def aggregate(answers: Answers, method: str = "dawid-skene", **options: Any) -> Aggregate:
    """Aggregate `answers` with the registered `method`, passing it `options`."""
    try:
        chosen = METHODS[method]
    except KeyError:
        raise ValueError(
            f"unknown aggregation method {method!r}; known methods: {', '.join(sorted(METHODS))}"
        ) from None
    return chosen(answers, **options)


register_method("majority", majority_vote)
register_method("dawid-skene", dawid_skene)
register_method("mace", mace)
register_method("weighted-mean", partial(weighted_rating, how="mean"))
register_method("weighted-median", partial(weighted_rating, how="median"))
register_method("bradley-terry", ranked_answers)
