"""What the audit reads off a record: its answer to a question, who made it, and its text.

A record's *human value* for a question exists only when annotators answered it: the decided
`final` value when there is one, else the most common submitted answer (the earliest on a tie).
Its *current value* falls back further, to the machine suggestion, so distributions cover records
no human has seen yet (auto-accepted ones carry their suggestion as `final`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from synthloop.records import Record
from synthloop.settings import Settings

__all__ = [
    "DIMENSIONS",
    "NONE",
    "chat_text",
    "current_value",
    "group_of",
    "human_value",
    "text_fields",
    "words",
]

# A record without the attribute a dimension groups by is shown under this name.
NONE = "(none)"
DIMENSIONS = ("source", "model", "language", "round")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def human_value(record: Record, question: str) -> Any:
    """The annotators' answer to `question`, or None when no submitted response gives one."""
    answers = [
        r.values[question]
        for r in record.responses
        if r.status == "submitted" and r.values.get(question) is not None
    ]
    if not answers:
        return None
    if record.final and record.final.get(question) is not None:
        return record.final[question]
    counts = Counter(_key(a) for a in answers)
    best = max(counts.values())
    return next(a for a in answers if counts[_key(a)] == best)


def current_value(record: Record, question: str) -> Any:
    """The final value, else the human value, else the suggestion's value, else None."""
    if record.final and record.final.get(question) is not None:
        return record.final[question]
    value = human_value(record, question)
    if value is not None:
        return value
    suggestion = record.suggestions.get(question)
    return None if suggestion is None else suggestion.value


def group_of(record: Record, dimension: str) -> str:
    """The record's group along `dimension` (see DIMENSIONS)."""
    if dimension == "source":
        return record.source
    if dimension == "model":
        return _text(record.provenance.get("model"))
    if dimension == "language":
        return _language(record.metadata)
    if dimension == "round":
        found = record.provenance.get("round")
        return _text(found if found is not None else record.metadata.get("round"))
    raise ValueError(f"dimension {dimension!r} is not one of {', '.join(DIMENSIONS)}")


def text_fields(settings: Settings) -> list[str]:
    """Names of the fields whose characters are counted: text, markdown and chat."""
    return [f.name for f in settings.fields if f.type in ("text", "markdown", "chat")]


def chat_text(value: Any) -> str | None:
    """A field value as text: a string as is, a chat as its messages' contents, one per line."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) for m in value if isinstance(m, dict))
    return None


def words(record: Record, settings: Settings) -> set[str]:
    """The lower-cased words of a record's text fields."""
    found: set[str] = set()
    for name in text_fields(settings):
        text = chat_text(record.fields.get(name))
        if text:
            found.update(w.lower() for w in _WORD.findall(text))
    return found


def _language(metadata: dict[str, Any]) -> str:
    curation = metadata.get("curation")
    if not isinstance(curation, dict):
        return NONE
    note = curation.get("language")
    if isinstance(note, dict) and note.get("language"):
        return str(note["language"])
    details = curation.get("details")
    # A record the language step rejected keeps its language in the rejection's details.
    if curation.get("step") == "language" and isinstance(details, dict):
        return _text(details.get("language"))
    return NONE


def _text(value: Any) -> str:
    return NONE if value is None or value == "" else str(value)


def _key(value: Any) -> Any:
    return tuple(_key(v) for v in value) if isinstance(value, list) else repr(value)
