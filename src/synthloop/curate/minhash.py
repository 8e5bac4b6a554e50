"""MinHash LSH over word shingles, vectorised: tens of thousands of documents a second.

A Python loop per word or per shingle tops out near 5,000 documents a second, so nothing here
loops over words. A batch of documents is encoded to one UTF-8 byte array; words (runs of bytes
that are not ASCII whitespace or punctuation) are hashed with a polynomial hash from one prefix
sum, shingles of `k` words by chaining the word hashes, all in numpy. Signatures are one
permutation MinHash (one hash per shingle, then densified), computed batch by batch in numpy:
on 100k docs this costs less than turning rensa's (Rust) signatures into a numpy array alone
(to_rows: 1.3 s of CPU), so there is no compiled dependency. Banding and candidate pairs are numpy
too, and so is the exact Jaccard check of the candidates.

Every hash is a fixed function of the bytes (no salted `hash()`), so results are the same in
every process and every run."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "Shingles",
    "candidate_pairs",
    "default_bands",
    "estimated_jaccard",
    "jaccard",
    "normalise",
    "pair_jaccard",
    "shingle",
    "signatures",
]

U64 = npt.NDArray[np.uint64]
Floats = npt.NDArray[np.float64]
Signatures = npt.NDArray[np.uint32]
_M = np.uint64
_BATCH_BYTES = 1_000_000  # text per batch: its arrays stay in cache (15% faster than 4 MB)
_SEED = 1
_SALT = np.uint64(0x5851F42D4C957F2D)  # signatures hash shingles apart from their ids
_MAX_WINDOW = 64  # a band bucket pairs each member with at most this many before it

_WORD = np.ones(256, dtype=bool)  # bytes that make words: all but ASCII space and punctuation
_WORD[list(b"\0 \t\n\r\x0b\x0c!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")] = False
_P = _M(0x100000001B3)  # the FNV prime: odd, so invertible mod 2**64
_CHAIN = _M(0x9E3779B97F4A7C15)


def normalise(text: str) -> str:
    """What near-duplicate detection compares: Unicode NFKC, lowercased."""
    return unicodedata.normalize("NFKC", text).lower()


@dataclass(frozen=True)
class Shingles:
    """The shingle hashes of a run of documents, flat: doc i's are `hashes[offsets[i]:
    offsets[i + 1]]` (with repeats; a doc without words has none)."""

    hashes: U64
    offsets: U64

    def of(self, i: int) -> U64:
        return self.hashes[int(self.offsets[i]) : int(self.offsets[i + 1])]


def shingle(texts: Sequence[str], k: int) -> Shingles:
    """The hashes of each text's `k`-word shingles (a text of fewer words: one shingle of all
    of them). Texts are normalised here."""
    parts: list[U64] = []
    counts: list[npt.NDArray[np.int64]] = []
    for hashes, per_doc in _batches(texts, k):
        parts.append(hashes)
        counts.append(per_doc)
    offsets = np.zeros(len(texts) + 1, dtype=np.uint64)
    if texts:
        np.cumsum(np.concatenate(counts), out=offsets[1:])
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
    return Shingles(flat, offsets)


def signatures(texts: Sequence[str], k: int, num_perm: int) -> npt.NDArray[np.uint32]:
    """One-permutation MinHash signatures of the texts' `k`-word shingles, a row of `num_perm`
    values per text; a text without words gets all 0xFFFFFFFF. Computed a batch at a time, so
    the shingles of all texts are never held at once."""
    rows = [_one_permutation(h, per_doc, num_perm) for h, per_doc in _batches(texts, k)]
    return np.concatenate(rows) if rows else np.zeros((0, num_perm), dtype=np.uint32)


def _batches(texts: Sequence[str], k: int) -> Iterator[tuple[U64, npt.NDArray[np.int64]]]:
    ends = np.cumsum([len(t) + 1 for t in texts])
    start = 0
    while start < len(texts):
        reach = (ends[start - 1] if start else 0) + _BATCH_BYTES
        stop = max(start + 1, int(np.searchsorted(ends, reach, side="right")))
        yield _shingle_batch(texts[start:stop], k)
        start = stop


def _shingle_batch(texts: Sequence[str], k: int) -> tuple[U64, npt.NDArray[np.int64]]:
    # The batch is normalised and encoded as one string, docs apart by a NUL (which neither
    # NFKC nor lower() makes or removes): 100,000 calls fewer than doc by doc.
    joined = "\0".join(texts)
    if joined.count("\0") != len(texts) - 1:  # a NUL of their own: a separator like any
        joined = "\0".join(t.replace("\0", " ") for t in texts)
    data = np.frombuffer(b"\0" + normalise(joined).encode() + b"\0", dtype=np.uint8)
    doc_starts = np.flatnonzero(data == 0)[:-1]
    word = _WORD[data]
    starts = np.flatnonzero(~word[:-1] & word[1:]) + 1
    ends = np.flatnonzero(word[:-1] & ~word[1:]) + 1
    words_hash = _word_hashes(data, starts, ends)
    first_word = np.searchsorted(starts, doc_starts)
    words_per_doc = np.diff(np.append(first_word, len(starts)))
    return _chain(words_hash, first_word, words_per_doc, k)


def _word_hashes(
    data: npt.NDArray[np.uint8], starts: npt.NDArray[np.intp], ends: npt.NDArray[np.intp]
) -> U64:
    """Polynomial hashes of data[s:e], position-independent: (prefix[e] - prefix[s]) holds
    sum(b_j * P**j), scaled by P**-s back to the word's own origin."""
    powers = _powers(len(data))
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(data) + 1, dtype=np.uint64)
        np.cumsum(data * powers[0][: len(data)], out=prefix[1:])
        return _mix((prefix[ends] - prefix[starts]) * powers[1][starts])


_POWER_CACHE: list[tuple[U64, U64]] = []


def _powers(n: int) -> tuple[U64, U64]:
    """P**i and P**-i (mod 2**64) for i < n, computed once and grown as needed."""
    if not _POWER_CACHE or len(_POWER_CACHE[0][0]) < n:
        size = max(n, _BATCH_BYTES * 2)
        inverse = _M(pow(int(_P), -1, 2**64))
        with np.errstate(over="ignore"):
            up = np.cumprod(np.concatenate([[_M(1)], np.full(size - 1, _P, dtype=np.uint64)]))
            down = np.cumprod(
                np.concatenate([[_M(1)], np.full(size - 1, inverse, dtype=np.uint64)])
            )
        _POWER_CACHE[:] = [(up, down)]
    return _POWER_CACHE[0]


def _mix(x: U64) -> U64:
    """splitmix64's finaliser: every input bit moves every output bit."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> _M(30))) * _M(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> _M(27))) * _M(0x94D049BB133111EB)
        return x ^ (x >> _M(31))


def _chain(
    words: U64, first: npt.NDArray[np.int64], count: npt.NDArray[np.int64], k: int
) -> tuple[U64, npt.NDArray[np.int64]]:
    """Shingle hashes: chain j holds the hash of words i..i+j for every i. A doc of n >= k
    words has its n-k+1 full shingles, a shorter one (n > 0) the chain of all its words."""
    n = len(words)
    chains = [words]
    with np.errstate(over="ignore"):
        for j in range(1, k):
            chains.append(_mix(chains[-1][: n - j] * _CHAIN + words[j:]))
    full = count >= k
    shingles_per_doc = np.where(full, count - k + 1, np.minimum(count, 1))
    # full shingle i is valid when its last word is in the same doc as its first
    doc_of_word = np.repeat(np.arange(len(count)), count)
    last = chains[k - 1] if n >= k else np.zeros(0, dtype=np.uint64)
    valid = doc_of_word[: len(last)] == doc_of_word[k - 1 :] if n >= k else np.zeros(0, bool)
    short = np.flatnonzero(~full & (count > 0))
    out = np.empty(int(shingles_per_doc.sum()), dtype=np.uint64)
    where = np.cumsum(shingles_per_doc) - shingles_per_doc  # each doc's first output slot
    keep = np.flatnonzero(valid)
    out_index = np.ones(len(out), dtype=bool)
    out_index[where[short]] = False
    out[out_index] = last[keep]
    for i in short:  # rare: docs of fewer than k words
        out[where[i]] = chains[int(count[i]) - 1][first[i]]
    return out, shingles_per_doc


def _one_permutation(
    hashes: U64, per_doc: npt.NDArray[np.int64], bins: int
) -> npt.NDArray[np.uint32]:
    """One permutation hashing with optimal densification (Shrivastava, ICML 2017): each
    shingle's hash picks a bin and a value, a bin keeps its least value, and an empty bin
    borrows from the bin a fixed pseudo-random probe sequence (the same for every doc) first
    finds filled. Two docs agree on a bin with probability their Jaccard similarity, as with
    `bins` independent permutations, for one hash per shingle instead of `bins`."""
    n = len(per_doc)
    docs = np.repeat(np.arange(n, dtype=np.int64), per_doc)
    mixed = _mix(hashes ^ _SALT)
    # the bin: the high 32 bits scaled to 0..bins-1 (a multiply, not a division)
    slot = docs * bins + (((mixed >> _M(32)) * _M(bins)) >> _M(32)).astype(np.int64)
    sig = np.full(n * bins, 0xFFFFFFFF, dtype=np.uint32)
    np.minimum.at(sig, slot, mixed.astype(np.uint32))  # the value: the low 32 bits
    filled = np.zeros(n * bins, dtype=bool)
    filled[slot] = True
    empty = np.flatnonzero(~filled & np.repeat(per_doc > 0, bins))
    probes = _probes(bins)
    for attempt in range(probes.shape[1]):
        if not len(empty):
            break
        source = empty - empty % bins + probes[empty % bins, attempt]
        found = filled[source]
        sig[empty[found]] = sig[source[found]]
        empty = empty[~found]
    if len(empty):  # a doc of very few shingles: its first filled bin
        first = np.argmax(filled.reshape(n, bins), axis=1)
        sig[empty] = sig[empty - empty % bins + first[empty // bins]]
    return sig.reshape(n, bins)


@cache
def _probes(bins: int) -> npt.NDArray[np.int64]:
    """Each bin's probe sequence: fixed (seeded), so every doc and every run borrows alike."""
    return np.random.default_rng(_SEED).integers(0, bins, size=(bins, 64))


def default_bands(threshold: float, num_perm: int) -> int:
    """The band count (a divisor of num_perm) that minimises the weighted chance of missing a
    pair above `threshold` plus that of proposing one below it; misses weigh 9x, since every
    candidate is verified afterwards and a missed pair is lost for good."""
    xs = np.linspace(0.0, 1.0, 1001)

    def cost(bands: int) -> float:
        rows = num_perm // bands
        p = 1.0 - (1.0 - xs**rows) ** bands
        fp = p[xs < threshold].sum()
        fn = (1.0 - p[xs >= threshold]).sum()
        return float(0.1 * fp + 0.9 * fn)

    divisors = [b for b in range(1, num_perm + 1) if num_perm % b == 0]
    return min(divisors, key=cost)


def candidate_pairs(sigs: npt.NDArray[np.uint32], bands: int, rows: int) -> npt.NDArray[np.int64]:
    """Pairs (i, j), i < j, sharing at least one band, unique, sorted. A bucket pairs each
    member with the (at most 64) members before it, so a thousand copies of one text cost
    64,000 pairs, not half a million, and still end up in one cluster."""
    n = len(sigs)
    live = np.flatnonzero((sigs != 0xFFFFFFFF).any(axis=1))  # docs without words pair with none
    found: list[npt.NDArray[np.int64]] = []
    for band in range(bands):
        block = np.ascontiguousarray(sigs[live, band * rows : (band + 1) * rows])
        keys = _band_keys(block)
        by_key = np.argsort(keys, kind="stable")
        keys, order = keys[by_key], live[by_key]
        for offset in range(1, _MAX_WINDOW + 1):
            same = np.flatnonzero(keys[offset:] == keys[:-offset])
            if not len(same):
                break
            a, b = order[same], order[same + offset]
            found.append(np.minimum(a, b) * n + np.maximum(a, b))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return np.stack([codes // n, codes % n], axis=1)


def _band_keys(block: npt.NDArray[np.uint32]) -> U64:
    key = np.zeros(len(block), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in block.T:
            key = _mix(key * _CHAIN + column.astype(np.uint64))
    return key


def estimated_jaccard(sigs: npt.NDArray[np.uint32], pairs: npt.NDArray[np.int64]) -> Floats:
    """Each pair's share of equal signature values: its Jaccard similarity, give or take
    ~0.035 at 0.8 with 128 values."""
    if not len(pairs):
        return np.zeros(0)
    equal: Floats = np.mean(sigs[pairs[:, 0]] == sigs[pairs[:, 1]], axis=1)
    return equal


def pair_jaccard(shingles: Shingles, pairs: npt.NDArray[np.int64]) -> Floats:
    """The exact Jaccard similarity of each pair's shingle sets, all pairs at once: each doc's
    set is its sorted distinct hashes, packed under the doc's number (one sort for all docs; the
    hashes keep the bits the number leaves, 44 for a million docs), and a pair's intersection is
    the values its two sets share."""
    n = len(shingles.offsets) - 1
    if not len(pairs):
        return np.zeros(0)
    counts = np.diff(shingles.offsets).astype(np.int64)
    bits = _M(64 - max(n, len(pairs)).bit_length())  # for the hash under a doc or pair number
    keyed = np.repeat(np.arange(n, dtype=np.uint64), counts) << bits
    keyed |= shingles.hashes >> (_M(64) - bits)
    keyed.sort()
    distinct = keyed[np.concatenate([[True], keyed[1:] != keyed[:-1]])] if len(keyed) else keyed
    doc_of = (distinct >> bits).astype(np.int64)
    sizes = np.bincount(doc_of, minlength=n)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    a, b = pairs[:, 0], pairs[:, 1]
    # Both sets of every pair, side by side under the pair's number, sorted: a value both
    # sets hold appears twice in a row.
    members = np.concatenate([_ranges(starts[a], sizes[a]), _ranges(starts[b], sizes[b])])
    owner = np.concatenate(
        [np.repeat(np.arange(len(a)), sizes[a]), np.repeat(np.arange(len(b)), sizes[b])]
    )
    values = (owner.astype(np.uint64) << bits) | (distinct[members] & ((_M(1) << bits) - _M(1)))
    values.sort()
    shared = values[1:][values[1:] == values[:-1]] >> bits
    both = np.bincount(shared.astype(np.int64), minlength=len(a))
    union = sizes[a] + sizes[b] - both
    result: Floats = np.where(union > 0, both / np.maximum(union, 1), 0.0)
    return result


def _ranges(starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The indices starts[i] .. starts[i] + sizes[i] - 1 for every i, concatenated."""
    total = int(sizes.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
    indices: npt.NDArray[np.int64] = np.arange(total, dtype=np.int64) + shift
    return indices


def jaccard(a: U64, b: U64) -> float:
    """The exact Jaccard similarity of two docs' shingle sets."""
    sa, sb = np.unique(a), np.unique(b)
    union = len(np.union1d(sa, sb))
    return len(np.intersect1d(sa, sb, assume_unique=True)) / union if union else 0.0
