"""Rule-based augmentation: new rows from existing ones, each linked to its parent.

A row's id is a hash of its parent's id, the steps and the seed (and the copy number), so running
the same augmentation again makes the same rows, and `Dataset.add` adds none of them twice.
"""

from __future__ import annotations

import hashlib
import inspect
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from synthloop.errors import Problem
from synthloop.generate.offline import pii as _pii
from synthloop.generate.offline import rules as _rules
from synthloop.generate.offline.registry import Augmented, AugmentError, augmentation, names
from synthloop.records import Record, content_hash

__all__ = ["augment"]

# The built-ins register themselves on import, through the same decorator as any plugin.
_BUILTINS = (_pii, _rules)

Step = str | Mapping[str, Any]


def augment(
    rows: Iterable[Record | Mapping[str, Any]],
    field: str,
    steps: Sequence[Step],
    *,
    seed: int = 0,
    copies: int = 1,
) -> list[dict[str, Any]]:
    """`copies` augmented rows per input row, for `Dataset.add`.

    Each step is an augmentation name or {"name": ..., **params}; steps run in order on `field`
    (the other fields are copied). Provenance names the parent, the steps with their parameters
    and choices, the seed, and for `pii` every injected item with its span in the final text.
    Raises AugmentError listing every problem with the steps or the rows at once.
    """
    plan = _plan(steps, copies)
    parents = [_parent(i, row, field) for i, row in enumerate(rows, 1)]
    problems = [p for p in parents if isinstance(p, Problem)]
    if problems:
        raise AugmentError(problems)
    out = []
    for parent in parents:
        assert not isinstance(parent, Problem)
        for copy in range(copies):
            try:
                out.append(_augment_one(parent, field, plan, seed, copy))
            except ValueError as exc:  # an augmentation refusing its parameters
                raise AugmentError([Problem(f"record {parent[0]!r}", str(exc))]) from None
    return out


def _plan(steps: Sequence[Step], copies: int) -> list[dict[str, Any]]:
    plan, problems = [], []
    if copies < 1:
        problems.append(Problem("copies", f"copies must be 1 or more, got {copies}"))
    if not steps:
        problems.append(Problem("steps", f"no steps given; name one or more of {names()}"))
    for i, step in enumerate(steps, 1):
        spec = {"name": step} if isinstance(step, str) else dict(step)
        problem = _check_step(spec)
        if problem:
            problems.append(Problem(f"step {i}", problem))
        plan.append(spec)
    if problems:
        raise AugmentError(problems)
    return plan


def _check_step(spec: dict[str, Any]) -> str | None:
    name = spec.get("name")
    fn = augmentation(name) if isinstance(name, str) else None
    if fn is None:
        return (
            f"no augmentation named {name!r}; known: {', '.join(names())} "
            "(register others with @synthloop.generate.offline.register)"
        )
    params = {k: v for k, v in spec.items() if k != "name"}
    try:
        inspect.signature(fn).bind("", random.Random(), **params)
    except TypeError as exc:
        return f"{name}: {exc}; its parameters are {_parameters(fn)}"
    return None


def _parameters(fn: Any) -> str:
    found = list(inspect.signature(fn).parameters)[2:]
    return ", ".join(found) or "none"


def _parent(
    i: int, row: Record | Mapping[str, Any], field: str
) -> tuple[str, dict[str, Any]] | Problem:
    if isinstance(row, Record):
        fields, given = row.fields, row.external_id
    else:
        fields, given = dict(row.get("fields", {})), row.get("id")
    parent_id = str(given) if given is not None else content_hash(fields)
    if not isinstance(fields.get(field), str):
        return Problem(
            f"record {i} (id {parent_id!r})",
            f"field {field!r} is {'missing' if field not in fields else 'not text'}; "
            f"augment a text field (this record has: {', '.join(fields) or 'no fields'})",
        )
    return parent_id, fields


def _augment_one(
    parent: tuple[str, dict[str, Any]], field: str, plan: list[dict[str, Any]], seed: int, copy: int
) -> dict[str, Any]:
    parent_id, fields = parent
    # A string seed is hashed by random.Random itself (SHA-512), independent of PYTHONHASHSEED.
    rng = random.Random(f"{seed}:{parent_id}:{copy}")
    text, found, done = fields[field], list[dict[str, Any]](), []
    for spec in plan:
        fn = augmentation(spec["name"])
        assert fn is not None
        result = fn(text, rng, **{k: v for k, v in spec.items() if k != "name"})
        step = result if isinstance(result, Augmented) else Augmented(result)
        found = _relocate(found, step.text) + step.pii
        text = step.text
        done.append({**spec, **step.details})
    provenance: dict[str, Any] = {
        "source": "synthetic",
        "generator": "augment",
        "parent": parent_id,
        "steps": done,
        "seed": seed,
        "copy": copy,
    }
    if found:
        provenance["pii"] = found
    key = {"parent": parent_id, "steps": plan, "seed": seed, "copy": copy}
    digest = hashlib.blake2b(orjson.dumps(key, option=orjson.OPT_SORT_KEYS), digest_size=16)
    return {
        "id": "aug-" + digest.hexdigest(),
        "fields": {**fields, field: text},
        "provenance": provenance,
    }


def _relocate(items: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """Find earlier-injected PII in the text a later step made, in order. An item that a later
    step altered (a typo in an email) keeps its value, with span None and intact False."""
    out, cursor, lowered = [], 0, text.lower()
    for item in items:
        value = item["value"]
        at = text.find(value, cursor)
        if at < 0:
            at = lowered.find(value.lower(), cursor)
        if at < 0:
            out.append({**item, "span": None, "intact": False})
            continue
        out.append({**item, "value": text[at : at + len(value)], "span": [at, at + len(value)]})
        cursor = at + len(value)
    return out
