"""`prelabel`: an LLM's answers to a dataset's own questions, stored as suggestions.

The questions come from the target dataset's settings, so the task needs the dataset to exist.
The answer model is made from those questions when the task starts: each label question's value
is one of its labels, a multi-label's a list of them, a rating's one of its values, each with a
confidence that becomes the suggestion's score. A model that answers outside the question's
choices is re-asked, so a stored suggestion is always a valid answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from synthloop.errors import SynthloopError
from synthloop.generate.tasks.base import (
    Output,
    SourceItem,
    Task,
    TaskOptions,
    Unit,
    register_task,
)
from synthloop.generate.tasks.library._common import inline_schema, task_options
from synthloop.settings import (
    LabelQuestion,
    MultiLabelQuestion,
    RatingQuestion,
    Settings,
)

__all__ = ["Prelabel", "PrelabelOptions"]

Askable = LabelQuestion | MultiLabelQuestion | RatingQuestion


class PrelabelOptions(TaskOptions):
    questions: list[str] | None = Field(
        None, description="questions to answer (default: every label, multi_label and rating)"
    )
    fields: list[str] | None = Field(
        None, description="record fields to show the model (default: every text/markdown field)"
    )


@register_task
class Prelabel(Task):
    name = "prelabel"
    template = "prelabel"
    options = PrelabelOptions
    kind = "suggestions"

    def __init__(self, options: Mapping[str, Any] | TaskOptions | None = None, **kw: Any) -> None:
        super().__init__(options, **kw)
        self._settings = _settings(self.dataset_settings)
        self._questions = _questions(self._settings, task_options(self, PrelabelOptions).questions)
        self._fields = _fields(self._settings, task_options(self, PrelabelOptions).fields)
        self._model = _answers_model(self._questions)

    def schema(self) -> dict[str, Any]:
        return inline_schema(self._model.model_json_schema())

    def parse(self, text: str) -> dict[str, Any]:
        value = self._model.model_validate_json(text).model_dump(by_alias=True)
        for question in self._questions:
            problem = question.check(value[question.name]["value"], {})
            if problem:
                raise ValueError(f"question {question.name!r}: {problem}")
        return value

    def units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        questions = [_describe(q) for q in self._questions]
        for item in items:
            shown = [
                {"name": f, "title": self._settings.field(f).title, "value": item.fields[f]}
                for f in self._fields
                if item.fields.get(f) is not None
            ]
            request = self.request(
                guidelines=self._settings.guidelines, fields=shown, questions=questions
            )
            yield Unit(key=item.id, requests=(request,))

    def build(self, unit: Unit, outputs: Sequence[Output]) -> dict[str, Any]:
        value = outputs[0].value or {}
        return {
            q.name: {
                "value": value[q.name]["value"],
                "score": value[q.name]["confidence"],
                "rationale": None,
            }
            for q in self._questions
        }

    def settings(self) -> dict[str, Any]:
        return self._settings.to_dict()


def _settings(settings: Any) -> Settings:
    if settings is None:
        raise SynthloopError(
            "task 'prelabel' answers the target dataset's own questions, and that dataset does "
            "not exist yet; create it with `synthloop datasets create NAME --settings FILE` "
            "and import the records to pre-label first"
        )
    return settings if isinstance(settings, Settings) else Settings.parse(settings)


def _questions(settings: Settings, names: list[str] | None) -> list[Askable]:
    askable = [q for q in settings.questions if isinstance(q, Askable)]
    if names is None:
        if not askable:
            raise SynthloopError(
                "task 'prelabel' found no label, multi_label or rating question in the dataset's "
                "settings; it can only pre-label those question types"
            )
        return askable
    by_name = {q.name: q for q in askable}
    wrong = [n for n in names if n not in by_name]
    if wrong:
        raise SynthloopError(
            f"task 'prelabel': option `questions` names {', '.join(map(repr, wrong))}, which "
            f"is not a label, multi_label or rating question of the dataset; choose from "
            f"{', '.join(by_name) or '(none)'}"
        )
    return [by_name[n] for n in dict.fromkeys(names)]


def _fields(settings: Settings, names: list[str] | None) -> list[str]:
    texts = [f.name for f in settings.fields if f.type in ("text", "markdown")]
    if names is None:
        return texts
    known = [f.name for f in settings.fields]
    wrong = [n for n in names if n not in known]
    if wrong:
        raise SynthloopError(
            f"task 'prelabel': option `fields` names {', '.join(map(repr, wrong))}, which is "
            f"not a field of the dataset; choose from {', '.join(known)}"
        )
    return names


def _describe(question: Askable) -> dict[str, Any]:
    choices = question.values if isinstance(question, RatingQuestion) else question.labels
    return {
        "name": question.name,
        "type": question.type,
        "title": question.title,
        "description": question.description,
        "choices": choices,
    }


def _answers_model(questions: list[Askable]) -> type[BaseModel]:
    """{question: {value, confidence}}; fields are named q0, q1... with the question names as
    aliases, since a question name need not be a Python identifier."""
    answers: dict[str, Any] = {
        f"q{i}": (_answer_model(i, q), Field(alias=q.name)) for i, q in enumerate(questions)
    }
    return create_model("Prelabels", **answers)


def _answer_model(index: int, question: Askable) -> type[BaseModel]:
    if isinstance(question, RatingQuestion):
        value: Any = Literal[tuple(question.values)]
    elif isinstance(question, MultiLabelQuestion):
        value = list[Literal[tuple(question.labels)]]  # type: ignore[misc]
    else:
        value = Literal[tuple(question.labels)]
    return create_model(
        f"Answer{index}",
        value=(value, Field(description=question.description or question.name)),
        confidence=(float, Field(ge=0.0, le=1.0)),
    )
