"""Text corrections: which edit of a record's text becomes the final value."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

__all__ = ["text_correction"]


def text_correction(candidates: Iterable[str | None], reviewer: str | None = None) -> str | None:
    """The final correction of one text: the reviewer's edit, else the agreed edit, else None.

    `candidates` are the annotators' edits (None or blank: no edit). Edits that differ only in
    surrounding whitespace are the same edit. Without a reviewer's edit, the edit given by more
    annotators than any other wins (the first spelling seen is returned); a tie between
    different edits, or no edit at all, gives None: keep the original, or send it to review.
    """
    if reviewer is not None and reviewer.strip():
        return reviewer
    first: dict[str, str] = {}
    votes: Counter[str] = Counter()
    for edit in candidates:
        if edit is None or not edit.strip():
            continue
        key = edit.strip()
        first.setdefault(key, edit)
        votes[key] += 1
    ranked = votes.most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    return first[ranked[0][0]]
