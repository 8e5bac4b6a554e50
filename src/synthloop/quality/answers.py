"""Answers in long form — (item, worker, value) — encoded once as integer arrays.

Every agreement measure and aggregation model reads this one shape. Values may be any hashable
answer: a label, a rating, a sorted tuple of labels (multi_label), a tuple (ranking). They are
encoded as indices into `values`, sorted when they are comparable so ordinal measures see them
in order.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Answers"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Answers:
    """`item[k]` answered by `worker[k]` with `values[value[k]]`, one answer per (item, worker).

    `dropped` counts earlier answers replaced by a later one from the same worker on the same
    item (real crowd data repeats them): nothing is dropped without a count.
    """

    item: IntArray
    worker: IntArray
    value: IntArray
    item_ids: list[Any]
    worker_ids: list[Any]
    values: list[Any]
    dropped: int = 0

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)

    @property
    def n_values(self) -> int:
        return len(self.values)

    def __len__(self) -> int:
        return len(self.item)

    @classmethod
    def from_triples(
        cls, triples: Iterable[tuple[Hashable, Hashable, Hashable]], values: list[Any] | None = None
    ) -> Answers:
        """Build from (item, worker, value) triples; a repeated (item, worker) keeps the last.

        `values` fixes the value set and its order (e.g. a question's labels); by default it is
        the sorted set of values seen (insertion order when they do not sort).
        """
        last: dict[tuple[Hashable, Hashable], Hashable] = {}
        total = 0
        for item, worker, value in triples:
            last[(item, worker)] = value
            total += 1
        seen = values if values is not None else _ordered(set(last.values()), list(last.values()))
        index = {v: i for i, v in enumerate(seen)}
        unknown = [v for v in last.values() if v not in index]
        if unknown:
            raise ValueError(f"values {sorted(map(repr, set(unknown)))[:5]} are not among {seen}")
        item_ids = _ordered({k[0] for k in last}, [k[0] for k in last])
        worker_ids = _ordered({k[1] for k in last}, [k[1] for k in last])
        items = {v: i for i, v in enumerate(item_ids)}
        workers = {v: i for i, v in enumerate(worker_ids)}
        keys = list(last)
        return cls(
            item=np.fromiter((items[i] for i, _ in keys), np.int64, len(keys)),
            worker=np.fromiter((workers[w] for _, w in keys), np.int64, len(keys)),
            value=np.fromiter((index[v] for v in last.values()), np.int64, len(keys)),
            item_ids=item_ids,
            worker_ids=worker_ids,
            values=list(seen),
            dropped=total - len(keys),
        )

    def counts(self) -> npt.NDArray[np.float64]:
        """items x values matrix: how many workers gave each value to each item."""
        matrix = np.zeros((self.n_items, self.n_values))
        np.add.at(matrix, (self.item, self.value), 1)
        return matrix


def _ordered(unique: set[Any], seen_order: list[Any]) -> list[Any]:
    try:
        return sorted(unique)
    except TypeError:  # mixed or unorderable values: first-seen order is still deterministic
        return list(dict.fromkeys(seen_order))
