"""What the annotate page shows of one record: its fields, and each question with the answer it
starts from, built from the dataset's settings and the record alone.

A question starts from the annotator's own earlier answer (a draft, or the submission they are
undoing); else from the model's suggestion, which the page marks as such; else, for a correction,
from the field it corrects. A suggestion that does not fit its question (a label the settings no
longer have, a span past the text) is shown as a note but not put in as the answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from synthloop.records import Record, Response, Suggestion
from synthloop.settings import (
    LabelQuestion,
    MultiLabelQuestion,
    Question,
    RankingQuestion,
    RatingQuestion,
    Settings,
    SpanQuestion,
    TextQuestion,
)

__all__ = ["FieldView", "OptionView", "QuestionView", "RecordView", "record_view"]

# Number keys pick options 1..9, then 0 for the tenth; later options are picked by mouse or Tab.
KEYS = [*"123456789", "0"]


@dataclass
class FieldView:
    """A field as shown: `kind` is its type, or "missing" for an absent optional field and
    "json" for a value whose type the field does not expect (shown as JSON, never as HTML)."""

    name: str
    title: str
    kind: str
    value: Any
    pretty: str = ""  # the JSON text, for kind "json"


@dataclass
class OptionView:
    value: str | int
    index: int  # its place in the question's option list as the page's script receives it
    key: str  # the number key that picks it, "" past the tenth
    chosen: bool = False
    suggested: bool = False
    letter: str = ""  # "A"/"B" for a pairwise option
    field: FieldView | None = None  # the field a pairwise option names


@dataclass
class QuestionView:
    name: str
    title: str
    description: str
    kind: str  # label, multi_label, rating, ranking, pairwise, text, span
    required: bool
    options: list[OptionView]
    value: Any = None
    source: str | None = None  # where `value` came from: response, suggestion, prefill
    suggestion: Suggestion | None = None
    suggestion_fits: bool = False
    original: str | None = None  # the field text a correction starts from and is diffed against
    text: str | None = None  # the field text a span question labels
    field_title: str = ""  # the field a correction or span question works on

    def state(self) -> dict[str, Any]:
        """What the page's script needs of this question (read from a JSON data block)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "required": self.required,
            "options": [o.value for o in self.options],
            "value": self.value,
            "source": self.source,
            "original": self.original,
            "text": self.text,
        }


@dataclass
class RecordView:
    id: int
    external_id: str
    fields: list[FieldView]
    questions: list[QuestionView]
    answered: Response | None = None  # the caller's own response, when resuming or undoing
    shown_in_pairs: set[str] = field(default_factory=set)  # fields shown inside a comparison

    @property
    def left_fields(self) -> list[FieldView]:
        return [f for f in self.fields if f.name not in self.shown_in_pairs]


def record_view(settings: Settings, record: Record, own: Response | None) -> RecordView:
    """The page's view of `record` for an annotator whose own response (if any) is `own`."""
    fields = [_field_view(settings, spec.name, record.fields) for spec in settings.fields]
    shown = [f for f, spec in zip(fields, settings.fields, strict=True) if spec.visible]
    by_name = {f.name: f for f in shown}
    previous = own.values if own is not None and own.status != "discarded" else None
    questions = [_question_view(q, record, previous, by_name, settings) for q in settings.questions]
    paired = {o.field.name for q in questions if q.kind == "pairwise" for o in q.options if o.field}
    return RecordView(
        id=int(record.id or 0),
        external_id=str(record.external_id),
        fields=shown,
        questions=questions,
        answered=own,
        shown_in_pairs=paired,
    )


def _field_view(settings: Settings, name: str, values: dict[str, Any]) -> FieldView:
    spec = settings.field(name)
    title = spec.title or name
    if name not in values or values[name] is None:
        return FieldView(name, title, "missing", None)
    value = values[name]
    kind = spec.type if spec.check(value) is None else "json"
    pretty = json.dumps(value, indent=2, ensure_ascii=False) if kind == "json" else ""
    return FieldView(name, title, kind, value, pretty)


def _question_view(
    question: Question,
    record: Record,
    previous: dict[str, Any] | None,
    fields: dict[str, FieldView],
    settings: Settings,
) -> QuestionView:
    suggestion = record.suggestions.get(question.name)
    fits = suggestion is not None and question.check(suggestion.value, record.fields) is None
    view = QuestionView(
        name=question.name,
        title=question.title or question.name,
        description=question.description or "",
        kind=_kind(question),
        required=question.required,
        options=_options(question, fields),
        suggestion=suggestion,
        suggestion_fits=fits,
    )
    _work_field(view, question, record, settings)
    if previous is not None:
        if question.name in previous:
            view.value, view.source = previous[question.name], "response"
    elif suggestion is not None and fits:
        view.value, view.source = suggestion.value, "suggestion"
    elif view.original is not None:
        view.value, view.source = view.original, "prefill"
    _mark_options(view)
    return view


def _kind(question: Question) -> str:
    if isinstance(question, RankingQuestion) and len(question.options) == 2:
        return "pairwise"  # a preference between two: shown side by side, picked with A or B
    return question.type


def _options(question: Question, fields: dict[str, FieldView]) -> list[OptionView]:
    values: list[str | int]
    if isinstance(question, LabelQuestion | MultiLabelQuestion | SpanQuestion):
        values = [*question.labels]
    elif isinstance(question, RatingQuestion):
        values = [*question.values]
    elif isinstance(question, RankingQuestion):
        values = [*question.options]
    else:
        return []
    keyed = [OptionView(v, i, KEYS[i] if i < len(KEYS) else "") for i, v in enumerate(values)]
    if _kind(question) == "pairwise":
        for option, letter in zip(keyed, "AB", strict=True):
            option.letter, option.field = letter, fields.get(str(option.value))
    return keyed


def _work_field(view: QuestionView, question: Question, record: Record, settings: Settings) -> None:
    """The field text a correction starts from, or a span question labels."""
    name = None
    if isinstance(question, TextQuestion) and question.prefill:
        name = question.prefill
    elif isinstance(question, SpanQuestion):
        name = question.field
    if name is None:
        return
    text = record.fields.get(name)
    text = text if isinstance(text, str) else ""
    view.field_title = settings.field(name).title or name
    if isinstance(question, SpanQuestion):
        view.text = text
    else:
        view.original = text


def _mark_options(view: QuestionView) -> None:
    """Which options the starting answer picks, and which the suggestion picked."""
    chosen = _picked(view.kind, view.value)
    fits = view.suggestion is not None and view.suggestion_fits
    suggested = _picked(view.kind, view.suggestion.value) if view.suggestion and fits else set()
    for option in view.options:
        option.chosen = option.value in chosen
        option.suggested = option.value in suggested
    if view.kind == "ranking" and isinstance(view.value, list):
        # A ranking is shown in its answer's order; its keys are positions, not options.
        order = {str(value): i for i, value in enumerate(view.value)}
        view.options.sort(key=lambda o: order.get(str(o.value), len(order)))
        for i, option in enumerate(view.options):
            option.index, option.key = i, KEYS[i] if i < len(KEYS) else ""


def _picked(kind: str, value: Any) -> set[Any]:
    if kind in ("label", "rating") and isinstance(value, str | int):
        return {value}
    if kind == "multi_label" and isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    if kind == "pairwise" and isinstance(value, list) and value and isinstance(value[0], str):
        return {value[0]}  # the preferred one
    return set()
