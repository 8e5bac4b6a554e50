"""The reviewer's answer as a plain HTML form: one input group per question, read back into the
values `submit` checks.

Form names are `q-<question>` (question names are identifiers), and for a ranking one
`q-<question>-rank-<i>` select per option. An empty input means "not answered", so an optional
question can be left out. Answers that do not even parse (a span list that is not JSON, a
ranking with a repeated rank) are reported as problems, next to those `submit` finds.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import FormData

from synthloop.errors import Problem
from synthloop.settings import Question, Settings

__all__ = ["EditorState", "editor_state", "read_answer", "span_text"]

EditorState = dict[str, Any]


def read_answer(
    settings: Settings, form: FormData, fields: dict[str, Any]
) -> tuple[dict[str, Any], EditorState, list[Problem]]:
    """The answer in the form: values by question, what to show in the editor again (the
    typed text of inputs that did not parse included), and the problems found reading it.
    When some input does not parse, the others are checked against their questions too (as
    `submit` would), so every problem is reported at once."""
    values: dict[str, Any] = {}
    shown: EditorState = {}
    problems: list[Problem] = []
    for q in settings.questions:
        try:
            value = _read(q, form)
        except ValueError as exc:
            problems.append(Problem(f"question {q.name!r}", str(exc)))
            shown[q.name] = _raw(q, form)
            continue
        if value is not None:
            values[q.name] = value
        shown[q.name] = value
    if problems:
        problems += _unchecked(settings, values, fields, {p.where for p in problems})
    return values, shown, problems


def _unchecked(
    settings: Settings, values: dict[str, Any], fields: dict[str, Any], reported: set[str]
) -> list[Problem]:
    found = []
    for q in settings.questions:
        where = f"question {q.name!r}"
        if where in reported:
            continue
        if q.name in values:
            why = q.check(values[q.name], fields)
            if why:
                found.append(Problem(where, why))
        elif q.required:
            found.append(Problem(where, "is required to submit; answer it"))
    return found


def _read(q: Question, form: FormData) -> Any:
    name = f"q-{q.name}"
    if q.type == "multi_label":
        return [v for v in form.getlist(name) if isinstance(v, str)] or None
    if q.type == "ranking":
        return _ranking(q.options, [_text(form, f"{name}-rank-{i}") for i in range(len(q.options))])
    raw = _text(form, name)
    if q.type == "text":
        # Browsers send a textarea's line breaks as CRLF; the answer keeps the text as typed.
        return raw.replace("\r\n", "\n") or None
    raw = raw.strip()
    if not raw:
        return None
    if q.type == "rating":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"rating {raw!r} is not a whole number") from None
    if q.type == "span":
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"spans must be a JSON list of {{start, end, label}}: {exc}") from None
    return raw  # a label


def _ranking(options: list[str], ranks: list[str]) -> list[str] | None:
    if not any(r.strip() for r in ranks):
        return None
    wanted = [str(i) for i in range(1, len(options) + 1)]
    if sorted(r.strip() for r in ranks) != wanted:
        raise ValueError(
            f"give each of {options} a different rank from 1 to {len(options)} (1 = best), "
            "or leave all of them empty"
        )
    return [option for _, option in sorted(zip((int(r) for r in ranks), options, strict=True))]


def _raw(q: Question, form: FormData) -> Any:
    """What the reviewer typed, to show again when it did not parse."""
    if q.type == "ranking":
        return None
    return _text(form, f"q-{q.name}")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def editor_state(
    settings: Settings, fields: dict[str, Any], *sources: dict[str, Any] | None
) -> EditorState:
    """What the editor starts with, per question: the first source that answers it (say, the
    reviewer's own earlier answer, then the record's final value), else for a text question
    with `prefill` that field's text (a correction starts from the original)."""
    state: EditorState = {}
    for q in settings.questions:
        found = next((s[q.name] for s in sources if s and s.get(q.name) is not None), None)
        if found is None and q.type == "text" and q.prefill:
            prefill = fields.get(q.prefill)
            found = prefill if isinstance(prefill, str) else None
        state[q.name] = found
    return state


def span_text(value: Any) -> str:
    """A span answer as the JSON text its textarea holds (a string typed earlier stays)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
