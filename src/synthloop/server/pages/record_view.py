"""One record as the review and records pages show it: its fields ready for the templates, every
response side by side, and how far the answers agree, question by question.

Nothing here makes HTML: values become plain strings and lists that the templates escape (only
markdown goes through the `markdown` filter there).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from synthloop.errors import DatasetNotFound
from synthloop.records import Record
from synthloop.server.pages.common import PageError
from synthloop.settings import Question, Settings
from synthloop.store.browse import response_times
from synthloop.store.dataset import Dataset
from synthloop.store.store import Store

__all__ = [
    "AnswerColumn",
    "FieldView",
    "QuestionSplit",
    "answer_text",
    "dataset_or_404",
    "field_views",
    "pretty",
    "preview",
    "record_or_404",
    "responses_of",
    "splits",
]

CHAT_ROLES = ("user", "assistant", "system", "tool")
PREVIEW_CHARS = 140


def dataset_or_404(store: Store, name: str) -> Dataset:
    try:
        return store.dataset(name)
    except DatasetNotFound as exc:
        raise PageError(404, str(exc)) from None


def record_or_404(dataset: Dataset, record_id: int) -> Record:
    found = dataset.records_by_id([record_id])
    if not found:
        raise PageError(404, f"record {record_id} is not a record of dataset {dataset.name!r}")
    return found[0]


# ---------------------------------------------------------------- fields


@dataclass
class FieldView:
    """A field to show: `text` for text and markdown, `messages` for chat, `json` pretty."""

    name: str
    title: str
    type: str
    visible: bool
    text: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    json: str = ""


def field_views(settings: Settings, record: Record) -> list[FieldView]:
    """The record's fields in settings order; a field the record lacks is left out."""
    views = []
    for spec in settings.fields:
        if spec.name not in record.fields:
            continue
        value = record.fields[spec.name]
        view = FieldView(spec.name, spec.title or spec.name, spec.type, spec.visible)
        if spec.type == "chat" and isinstance(value, list):
            view.messages = [_message(m) for m in value]
        elif spec.type in ("text", "markdown") and isinstance(value, str):
            view.text = value
        else:  # json, or a value of an unexpected shape: show it as it is
            view.type, view.json = "json", pretty(value)
        views.append(view)
    return views


def _message(message: Any) -> dict[str, str]:
    role = str(message.get("role", "")) if isinstance(message, dict) else ""
    content = message.get("content", "") if isinstance(message, dict) else message
    # The role names a CSS class only when it is a known one: data never becomes markup.
    kind = role if role in CHAT_ROLES else "other"
    return {"role": role, "kind": kind, "content": str(content)}


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def preview(settings: Settings, record: Record) -> str:
    """The start of the record's first text or markdown field, on one line."""
    for spec in settings.fields:
        value = record.fields.get(spec.name)
        if spec.type in ("text", "markdown") and isinstance(value, str):
            line = " ".join(value.split())
            return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"
    return ""


# ---------------------------------------------------------------- answers


def answer_text(question: Question, value: Any, fields: dict[str, Any]) -> list[str]:
    """An answer as lines of plain text: labels, a ranking best first, spans with their text."""
    if value is None:
        return []
    if question.type == "multi_label" and isinstance(value, list):
        return [", ".join(map(str, value)) or "(none)"]
    if question.type == "ranking" and isinstance(value, list):
        return [f"{i}. {option}" for i, option in enumerate(value, 1)]
    if question.type == "span" and isinstance(value, list):
        text = fields.get(getattr(question, "field", ""), "")
        return [_span(span, text) for span in value] or ["(no spans)"]
    if isinstance(value, str):
        return [value]
    return [pretty(value)]


def _span(span: Any, text: Any) -> str:
    if not isinstance(span, dict):
        return pretty(span)
    start, end = span.get("start"), span.get("end")
    quoted = text[start:end] if isinstance(text, str) and isinstance(start, int) else ""
    return f"{span.get('label')}: “{quoted}” [{start}:{end}]"


@dataclass
class AnswerColumn:
    """One response as a column of the side-by-side table."""

    user: str
    status: str
    at: datetime | None
    duration: float | None
    values: dict[str, Any]
    lines: dict[str, list[str]]


def responses_of(dataset: Dataset, record: Record) -> list[AnswerColumn]:
    """Every response to the record (drafts and discarded ones too), submitted ones first."""
    assert record.id is not None  # read from the store
    times = response_times(dataset, record.id)
    order = {"submitted": 0, "draft": 1, "discarded": 2}
    columns = [
        AnswerColumn(
            user=r.user,
            status=r.status,
            at=times.get(r.user),
            duration=r.duration,
            values=r.values,
            lines={
                q.name: answer_text(q, r.values.get(q.name), record.fields)
                for q in dataset.settings.questions
            },
        )
        for r in record.responses
    ]
    return sorted(columns, key=lambda c: order.get(c.status, 3))


@dataclass
class QuestionSplit:
    """How one question's submitted answers on one record split: the share of answers equal to
    the most common one, and that answer unless others are as common (a tie); `note` instead
    when there is nothing to measure."""

    question: str
    answers: int
    majority: list[str] = field(default_factory=list)
    agreeing: int = 0
    share: float | None = None
    note: str = ""


def splits(settings: Settings, record: Record) -> list[QuestionSplit]:
    """Per question, the share of the record's submitted answers that agree with the most
    common answer."""
    submitted = [r for r in record.responses if r.status == "submitted"]
    found = []
    for q in settings.questions:
        given = [r.values[q.name] for r in submitted if r.values.get(q.name) is not None]
        split = QuestionSplit(q.name, len(given))
        if q.type == "span":
            split.note = "spans are not compared"
        elif len(given) < 2:
            split.note = "one answer" if given else "no answers"
        else:
            keys = [_key(q, v) for v in given]
            ranked = Counter(keys).most_common(2)
            key, split.agreeing = ranked[0]
            split.share = split.agreeing / len(given)
            if len(ranked) == 1 or ranked[1][1] < split.agreeing:  # a tie has no majority
                split.majority = answer_text(q, given[keys.index(key)], record.fields)
        found.append(split)
    return found


def _key(question: Question, value: Any) -> bytes:
    """Answers that mean the same compare equal: a multi-label's order does not matter."""
    if question.type == "multi_label" and isinstance(value, list):
        value = sorted(map(str, value))
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
