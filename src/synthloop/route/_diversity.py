"""Diversity: choose records that cover the candidates' clusters, so humans do not spend the
budget on fifty near-identical items.

Texts become hashed TF-IDF vectors (word unigrams and bigrams, signed feature hashing into
`DIMENSIONS` buckets with a fixed hash, so every run and process agrees), clustered by spherical
k-means (farthest-first start from a seeded row). The choice then goes round the clusters,
best cluster first, taking each cluster's best record not yet taken; a record nearly identical
(cosine of term counts >= `NEAR_DUPLICATE`) to one already taken waits until every cluster is
used up.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["DIMENSIONS", "MAX_CLUSTERS", "NEAR_DUPLICATE", "diverse_order", "vectors"]

Matrix = npt.NDArray[np.float32]

DIMENSIONS = 512
# More clusters cost time (n x k x DIMENSIONS per iteration) and add little coverage once each
# holds a few records: round-robin over them already spreads the choice.
MAX_CLUSTERS = 50
# Cosine of term counts above which two texts are near-identical (one changed word or number
# in a twenty-word text scores about 0.9).
NEAR_DUPLICATE = 0.8
_ITERATIONS = 15
_WORD = re.compile(r"\w+")


def vectors(texts: Sequence[str]) -> tuple[Matrix, Matrix]:
    """Two L2-normalised hashed rows per text (zero rows for a text without words): TF-IDF,
    which clusters by topic, and plain term counts, which compare texts for near-duplicates (a
    changed order number is a rare term, so TF-IDF would call two copies of a text different)."""
    counts = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    for row, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        for term in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
            h = zlib.crc32(term.encode())
            counts[row, h % DIMENSIONS] += 1.0 if h & 0x80000000 else -1.0
    present = (counts != 0).sum(axis=0)
    idf = np.log((1 + len(texts)) / (1 + present)).astype(np.float32) + 1.0
    return _unit(counts * idf), _unit(counts)


def _unit(rows: Matrix) -> Matrix:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: Matrix = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    return unit


def diverse_order(
    vecs: tuple[Matrix, Matrix], scores: Sequence[float] | None, slots: int, seed: int
) -> tuple[list[int], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Up to `slots` row indices in the order to serve them, each row's cluster, and the score
    that ordered each row within its cluster.

    Within a cluster, records go by `scores` (higher first); without scores, by closeness to
    the cluster's centre (its most typical records first)."""
    topics, terms = vecs
    n = len(topics)
    if n == 0 or slots <= 0:
        flat = np.zeros(n, dtype=np.float64) if scores is None else np.asarray(scores, np.float64)
        return [], np.zeros(n, dtype=np.int64), flat
    labels, centres = _kmeans(topics, min(slots, n, MAX_CLUSTERS), seed)
    value = (
        np.asarray(scores, dtype=np.float64)
        if scores is not None
        else np.einsum("ij,ij->i", topics, centres[labels]).astype(np.float64)
    )
    members = _members(labels, value)
    return _round_robin(terms, members, slots), labels, value


def _members(labels: npt.NDArray[np.int64], value: npt.NDArray[np.float64]) -> list[list[int]]:
    """Each cluster's rows, best first (ties: lower index), clusters by their best row."""
    order = np.lexsort((np.arange(len(value)), -value))
    clusters: dict[int, list[int]] = {}
    for i in order.tolist():
        clusters.setdefault(int(labels[i]), []).append(i)
    return list(clusters.values())  # dicts keep insertion order: the best row's cluster first


def _round_robin(terms: Matrix, members: list[list[int]], slots: int) -> list[int]:
    """Round the clusters taking each one's next row, skipping (until the end) rows nearly
    identical to one taken already, from any cluster: k-means may split a crowd of copies."""
    chosen: list[int] = []
    waiting: list[int] = []
    taken = np.zeros((slots, terms.shape[1]), dtype=np.float32)
    position = [0] * len(members)
    while len(chosen) < slots and any(p < len(m) for p, m in zip(position, members, strict=True)):
        for c, rows in enumerate(members):
            while len(chosen) < slots and position[c] < len(rows):
                row = rows[position[c]]
                position[c] += 1
                if chosen and float(np.max(taken[: len(chosen)] @ terms[row])) >= NEAR_DUPLICATE:
                    waiting.append(row)
                    continue
                taken[len(chosen)] = terms[row]
                chosen.append(row)
                break
    return chosen + waiting[: slots - len(chosen)]


def _kmeans(vecs: Matrix, k: int, seed: int) -> tuple[npt.NDArray[np.int64], Matrix]:
    """Spherical k-means: cosine assignment, centres renormalised; farthest-first start."""
    rng = np.random.default_rng(seed)
    centres = _farthest_first(vecs, k, rng)
    labels = np.zeros(len(vecs), dtype=np.int64)
    for step in range(_ITERATIONS):
        new = np.argmax(vecs @ centres.T, axis=1)
        if step and np.array_equal(new, labels):
            break
        labels = new
        for c in range(k):
            rows = vecs[labels == c]
            if len(rows):
                centre = rows.sum(axis=0)
                norm = float(np.linalg.norm(centre))
                centres[c] = centre / norm if norm > 0 else centre
    return labels, centres


def _farthest_first(vecs: Matrix, k: int, rng: np.random.Generator) -> Matrix:
    """Start centres: a seeded random row, then each time the row farthest from every centre so
    far. Deterministic past the first pick, and it reaches the small far-off groups that a
    crowd of similar rows would otherwise outweigh (coverage is the point here)."""
    centres = [int(rng.integers(len(vecs)))]
    distance = 1.0 - vecs @ vecs[centres[0]]
    for _ in range(1, k):
        pick = int(np.argmax(distance))
        centres.append(pick)
        distance = np.minimum(distance, 1.0 - vecs @ vecs[pick])
    return vecs[centres].copy()
