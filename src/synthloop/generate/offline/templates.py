"""Template expansion: records from a template with `{slot}` placeholders and a value list per slot.

Syntax: `{name}` is a slot (a Python identifier); `{{` and `}}` are a literal `{` and `}`. Nothing
else is special, so there is no format spec, attribute access or logic: a template reads as the
text it produces. Use Jinja2 through the LLM task library when logic is needed.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from synthloop.errors import Problem, ProblemList

__all__ = ["MODES", "Template", "TemplateError", "expand"]

MODES = ("combinatorial", "sampled")
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|\{|\}")


class TemplateError(ProblemList):
    """A template, its slots or the expansion options do not fit together; nothing was made."""

    headline = "invalid template"


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and slot names, alternating (`parts[1::2]` are slots)."""

    text: str
    parts: tuple[str, ...]

    @property
    def slots(self) -> list[str]:
        return list(dict.fromkeys(self.parts[1::2]))

    def render(self, values: Mapping[str, str]) -> str:
        return "".join(p if i % 2 == 0 else values[p] for i, p in enumerate(self.parts))


def parse(text: str, where: str, problems: list[Problem]) -> Template:
    """Split `text` into literals and slots; a lone brace is a problem (escape it by doubling)."""
    parts, literal, pos = [], [], 0
    for match in _TOKEN.finditer(text):
        literal.append(text[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif match.group(1):
            parts += ["".join(literal), match.group(1)]
            literal = []
        else:
            problems.append(
                Problem(
                    where,
                    f"lone {token!r} at character {match.start()}: a slot is {{name}} with a "
                    f"Python identifier as its name; write {token * 2!r} for a literal brace",
                )
            )
    literal.append(text[pos:])
    parts.append("".join(literal))
    return Template(text, tuple(parts))


def expand(
    template: str | Mapping[str, str],
    slots: Mapping[str, Sequence[Any]],
    *,
    field: str = "text",
    mode: str = "combinatorial",
    limit: int | None = None,
    n: int | None = None,
    seed: int = 0,
    name: str | None = None,
) -> list[dict[str, Any]]:
    """Rows for `Dataset.add`, one per combination of slot values.

    `template` is one template for `field`, or {field: template} to fill several fields from
    the same slot values. `mode="combinatorial"` gives every combination in a stable order (the
    first slot varies slowest, values in the order given), the first `limit` of them when set.
    `mode="sampled"` gives `n` distinct combinations drawn with `seed`; when `n` exceeds the number
    of combinations, each combination comes once. A row's id is a hash of the templates and its
    slot values, so the same combination always has the same id, whichever mode made it.
    Raises TemplateError listing every problem at once.
    """
    templates = {field: template} if isinstance(template, str) else dict(template)
    parsed, values = _validate(templates, slots, mode, limit, n)
    label = name or "sha-" + _digest(templates)[:12]
    order = list(values)
    combos = _combinations([values[s] for s in order], mode, limit, n, seed)
    return [
        _row(parsed, templates, dict(zip(order, combo, strict=True)), label, mode, seed)
        for combo in combos
    ]


def _validate(
    templates: dict[str, str],
    slots: Mapping[str, Sequence[Any]],
    mode: str,
    limit: int | None,
    n: int | None,
) -> tuple[dict[str, Template], dict[str, list[str]]]:
    problems: list[Problem] = []
    if not templates:
        problems.append(Problem("template", "no template given; pass a string or {field: text}"))
    parsed = {f: parse(t, f"template for field {f!r}", problems) for f, t in templates.items()}
    used = list(dict.fromkeys(s for t in parsed.values() for s in t.slots))
    values: dict[str, list[str]] = {}
    for slot in used:
        if slot not in slots:
            problems.append(
                Problem(
                    f"slot {slot!r}",
                    f"the template uses {{{slot}}} but no values were given; "
                    f"add slots={{{slot!r}: [...]}} or remove {{{slot}}} from the template",
                )
            )
        else:
            values[slot] = _values(slot, slots[slot], problems)
    for slot in slots:
        if slot not in used:
            problems.append(
                Problem(
                    f"slot {slot!r}",
                    f"values were given but the template does not use {{{slot}}} "
                    f"(it uses: {', '.join(used) or 'no slots'}); remove it or add {{{slot}}}",
                )
            )
    problems += _mode_problems(mode, limit, n)
    if problems:
        raise TemplateError(problems)
    return parsed, values


def _values(slot: str, given: Any, problems: list[Problem]) -> list[str]:
    where = f"slot {slot!r}"
    if isinstance(given, str | bytes) or not isinstance(given, Sequence):
        problems.append(
            Problem(where, f"values must be a list, got {given!r}; wrap it: [{given!r}]")
        )
        return []
    if not given:
        problems.append(
            Problem(where, f"the value list is empty; give at least one value or drop {{{slot}}}")
        )
    out = [str(v) for v in given]
    for value, count in _counts(out).items():
        if count > 1:
            problems.append(
                Problem(where, f"value {value!r} is listed {count} times; list each value once")
            )
    return out


def _counts(items: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def _mode_problems(mode: str, limit: int | None, n: int | None) -> list[Problem]:
    if mode not in MODES:
        return [Problem("mode", f"{mode!r} is not one of {list(MODES)}")]
    if mode == "sampled" and (n is None or n < 1):
        return [Problem("n", f"mode 'sampled' needs n >= 1 samples, got {n!r}; pass n=...")]
    if mode == "combinatorial" and n is not None:
        return [Problem("n", "n is for mode 'sampled'; use limit=... to cap combinatorial")]
    if limit is not None and limit < 0:
        return [Problem("limit", f"limit must be 0 or more, got {limit}")]
    return []


def _combinations(
    lists: list[list[str]], mode: str, limit: int | None, n: int | None, seed: int
) -> Iterator[tuple[str, ...]]:
    if mode == "combinatorial":
        return itertools.islice(itertools.product(*lists), limit)
    total = 1
    for values in lists:
        total *= len(values)
    # Sampling indices of the product, then decoding them, draws distinct combinations without
    # building the product, which may be far larger than n.
    picks = random.Random(seed).sample(range(total), min(n or 0, total))
    if limit is not None:
        picks = picks[:limit]
    return (_decode(i, lists) for i in picks)


def _decode(index: int, lists: list[list[str]]) -> tuple[str, ...]:
    combo: list[str] = []
    for values in reversed(lists):
        index, at = divmod(index, len(values))
        combo.append(values[at])
    return tuple(reversed(combo))


def _row(
    parsed: dict[str, Template],
    templates: dict[str, str],
    values: dict[str, str],
    label: str,
    mode: str,
    seed: int,
) -> dict[str, Any]:
    provenance: dict[str, Any] = {
        "source": "synthetic",
        "generator": "template",
        "template": label,
        "slots": values,
        "mode": mode,
    }
    if mode == "sampled":
        provenance["seed"] = seed
    return {
        "id": "tpl-" + _digest({"templates": templates, "slots": values}),
        "fields": {f: t.render(values) for f, t in parsed.items()},
        "provenance": provenance,
    }


def _digest(value: Any) -> str:
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=16).hexdigest()
