"""Dataset settings: the fields annotators read, the questions they answer, and how work is shared.

Settings are pydantic models. `Settings.load(path)` reads YAML and reports every problem at once,
each with its path in the document and its line in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthloop.errors import Problem, SettingsError

__all__ = [
    "RESERVED_NAMES",
    "ChatField",
    "Distribution",
    "FieldSpec",
    "JsonField",
    "LabelQuestion",
    "MarkdownField",
    "MultiLabelQuestion",
    "Question",
    "RankingQuestion",
    "RatingQuestion",
    "Settings",
    "SpanQuestion",
    "TextField",
    "TextQuestion",
]

# Keys a record row may carry besides its fields; a field with one of these names would be ambiguous
# in a flat row, so settings refuse it.
RESERVED_NAMES = frozenset(
    {
        "id",
        "fields",
        "metadata",
        "provenance",
        "status",
        "priority",
        "reason",
        "suggestions",
        "responses",
        "final",
    }
)

_Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- fields


class _FieldBase(_Model):
    name: _Name
    title: str | None = None
    required: bool = True
    visible: bool = True

    def check(self, value: Any) -> str | None:
        """Return why `value` is not valid for this field, or None when it is."""
        raise NotImplementedError


class TextField(_FieldBase):
    type: Literal["text"] = "text"

    def check(self, value: Any) -> str | None:
        return None if isinstance(value, str) else _expected("a string", value)


class MarkdownField(TextField):
    type: Literal["markdown"] = "markdown"  # type: ignore[assignment]


class ChatField(_FieldBase):
    type: Literal["chat"] = "chat"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, list):
            return _expected("a list of {role, content} messages", value)
        for i, message in enumerate(value):
            if not (
                isinstance(message, dict)
                and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)
            ):
                return f"message {i} must be an object with string 'role' and 'content'"
        return None


class JsonField(_FieldBase):
    type: Literal["json"] = "json"

    def check(self, value: Any) -> str | None:
        return None  # any JSON value is allowed


FieldSpec = Annotated[
    TextField | MarkdownField | ChatField | JsonField, Field(discriminator="type")
]


# ---------------------------------------------------------------- questions


class _QuestionBase(_Model):
    name: _Name
    title: str | None = None
    description: str | None = None
    required: bool = True

    def check(self, value: Any, fields: dict[str, Any]) -> str | None:
        """Return why `value` is not a valid answer (given the record's fields), or None."""
        raise NotImplementedError


def _unique(values: list[Any], what: str) -> list[Any]:
    dupes = sorted({str(v) for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(dupes)}")
    return values


class LabelQuestion(_QuestionBase):
    type: Literal["label"] = "label"
    labels: list[str] = Field(min_length=2)

    @model_validator(mode="after")
    def _labels_unique(self) -> LabelQuestion:
        _unique(self.labels, "labels")
        return self

    def check(self, value: Any, fields: dict[str, Any]) -> str | None:
        if value in self.labels:
            return None
        return f"label {_show(value)} is not one of {self.labels}"


class MultiLabelQuestion(LabelQuestion):
    type: Literal["multi_label"] = "multi_label"  # type: ignore[assignment]

    def check(self, value: Any, fields: dict[str, Any]) -> str | None:
        if not isinstance(value, list):
            return _expected(f"a list of labels from {self.labels}", value)
        wrong = [v for v in value if v not in self.labels]
        if wrong:
            return f"labels {wrong} are not among {self.labels}"
        if len(set(value)) != len(value):
            return f"labels {value} repeat a label"
        return None


class RatingQuestion(_QuestionBase):
    type: Literal["rating"] = "rating"
    values: list[int] = Field(min_length=2)

    @model_validator(mode="after")
    def _values_unique(self) -> RatingQuestion:
        _unique(self.values, "values")
        return self

    def check(self, value: Any, fields: dict[str, Any]) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and value in self.values:
            return None
        return f"rating {_show(value)} is not one of {self.values}"


class RankingQuestion(_QuestionBase):
    """N-way ranking, best first; a pairwise preference is a ranking of two options."""

    type: Literal["ranking"] = "ranking"
    options: list[str] = Field(min_length=2)

    @model_validator(mode="after")
    def _options_unique(self) -> RankingQuestion:
        _unique(self.options, "options")
        return self

    def check(self, value: Any, fields: dict[str, Any]) -> str | None:
        if (
            isinstance(value, list)
            and sorted(map(str, value)) == sorted(self.options)
            and all(isinstance(v, str) for v in value)
        ):
            return None
        return f"ranking {_show(value)} must list each of {self.options} once, best first"


class TextQuestion(_QuestionBase):
    """Free text, or a correction pre-filled from the field named by `prefill`."""

    type: Literal["text"] = "text"
    prefill: str | None = None

    def check(self, value: Any, fields: dict[str, Any]) -> str | None:
        return None if isinstance(value, str) else _expected("a string", value)


class SpanQuestion(_QuestionBase):
    """Labelled character ranges [start, end) of a text field."""

    type: Literal["span"] = "span"
    field: str
    labels: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _labels_unique(self) -> SpanQuestion:
        _unique(self.labels, "labels")
        return self

    def check(self, value: Any, fields: dict[str, Any]) -> str | None:
        if not isinstance(value, list):
            return _expected("a list of {start, end, label} spans", value)
        text = fields.get(self.field)
        size = len(text) if isinstance(text, str) else None
        for i, span in enumerate(value):
            problem = self._check_span(span, size)
            if problem:
                return f"span {i}: {problem}"
        return None

    def _check_span(self, span: Any, size: int | None) -> str | None:
        if not isinstance(span, dict):
            return _expected("an object {start, end, label}", span)
        start, end, label = span.get("start"), span.get("end"), span.get("label")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
            return f"start {_show(start)} and end {_show(end)} must be integers, 0 <= start < end"
        if size is not None and end > size:
            return f"end {end} is past the end of field {self.field!r} ({size} characters)"
        if label not in self.labels:
            return f"label {_show(label)} is not one of {self.labels}"
        return None


Question = Annotated[
    LabelQuestion
    | MultiLabelQuestion
    | RatingQuestion
    | RankingQuestion
    | TextQuestion
    | SpanQuestion,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------- distribution and settings


class Distribution(_Model):
    overlap: int = Field(1, ge=1, le=100, description="submitted responses needed per record")
    lease_seconds: int = Field(600, ge=10, description="how long an annotator holds a record")
    gold_rate: float = Field(0.0, ge=0.0, le=1.0, description="share of gold records served")
    agreement_threshold: float | None = Field(
        None, ge=-1.0, le=1.0, description="agreement below which a record goes to review"
    )


class Settings(_Model):
    """What a dataset's records hold, what annotators answer, and how the work is shared."""

    guidelines: str = ""
    fields: list[FieldSpec] = Field(min_length=1)
    questions: list[Question] = Field(default_factory=list)
    distribution: Distribution = Field(default_factory=Distribution)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = _cross_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(message for _, message in problems))
        return self

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    def question(self, name: str) -> Question:
        return next(q for q in self.questions if q.name == name)

    @classmethod
    def parse(cls, data: Any, source: str = "", lines: _LineIndex | None = None) -> Settings:
        """Validate a mapping, raising SettingsError with every problem at once."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            # The cross-checks are reported one by one at their own paths, and even when other
            # problems kept pydantic from running them, so every problem shows at once.
            problems = [_problem(err, lines) for err in exc.errors() if not _is_cross(err)]
            problems += [_located(path, message, lines) for path, message in _cross_problems(data)]
            raise SettingsError(problems, source=source) from None

    @classmethod
    def load(cls, path: str | Path) -> Settings:
        """Read settings from a YAML (or JSON) file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError([Problem(str(path), f"cannot read settings: {exc}")]) from None
        return cls.loads(text, source=str(path))

    @classmethod
    def loads(cls, text: str, source: str = "<settings>") -> Settings:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SettingsError([Problem(source, f"not valid YAML: {exc}")]) from None
        if not isinstance(data, dict):
            raise SettingsError(
                [Problem(source, "settings must be a mapping with 'fields' and 'questions'")]
            )
        return cls.parse(data, source=source, lines=_LineIndex(node))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class _LineIndex:
    """Finds the line of a path like ('questions', 2, 'labels') in a composed YAML node tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def line(self, path: tuple[int | str, ...]) -> int | None:
        node, found = self.root, None
        for key in path:
            child = self._child(node, key)
            if child is None:
                break
            node = found = child
        if found is None and node is not None:
            found = node
        return found.start_mark.line + 1 if found is not None else None

    @staticmethod
    def _child(node: yaml.Node | None, key: int | str) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            return next((v for k, v in node.value if k.value == key), None)
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            return node.value[key]  # type: ignore[no-any-return]
        return None


def _cross_problems(data: Any) -> list[tuple[tuple[int | str, ...], str]]:
    """What must hold across fields and questions: unique names, no reserved field names, and
    questions that point at a text field. Works on the raw document, so it runs even when other
    parts of it are invalid."""
    if not isinstance(data, dict):
        return []
    fields = _named_items(data.get("fields"))
    questions = _named_items(data.get("questions"))
    problems = _repeated_names(fields, "fields") + _repeated_names(questions, "questions")
    reserved = ", ".join(sorted(RESERVED_NAMES))
    problems += [
        (
            ("fields", i, "name"),
            f"field name {name!r} is reserved for a record key; rename it (reserved: {reserved})",
        )
        for i, name, _ in fields
        if name in RESERVED_NAMES
    ]
    kinds = {name: item.get("type") for _, name, item in fields}
    for i, name, item in questions:
        for key in ("prefill", "field"):
            target = item.get(key)
            if isinstance(target, str) and kinds.get(target, "missing") in (
                "missing",
                "chat",
                "json",
            ):
                problems.append(
                    (
                        ("questions", i, key),
                        f"question {name!r} refers to field {target!r}, which is not a text or "
                        f"markdown field of this dataset (fields: {', '.join(kinds)})",
                    )
                )
    return problems


def _named_items(items: Any) -> list[tuple[int, str, dict[str, Any]]]:
    if not isinstance(items, list):
        return []
    return [
        (i, item["name"], item)
        for i, item in enumerate(items)
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    ]


def _repeated_names(
    items: list[tuple[int, str, dict[str, Any]]], section: str
) -> list[tuple[tuple[int | str, ...], str]]:
    first: dict[str, int] = {}
    problems: list[tuple[tuple[int | str, ...], str]] = []
    for i, name, _ in items:
        if name in first:
            problems.append(
                (
                    (section, i, "name"),
                    f"name {name!r} is already used by {section}.{first[name]}; "
                    f"{section} need unique names",
                )
            )
        first.setdefault(name, i)
    return problems


def _is_cross(err: Any) -> bool:
    return bool(err["loc"] == () and err["type"] == "value_error")


def _located(path: tuple[int | str, ...], message: str, lines: _LineIndex | None) -> Problem:
    where = ".".join(str(p) for p in path)
    line = lines.line(path) if lines else None
    return Problem(f"{where} (line {line})" if line is not None else where, message)


def _problem(err: Any, lines: _LineIndex | None) -> Problem:
    # pydantic puts the union member's tag into the location ("questions.1.label.labels");
    # drop it so the path reads like the document.
    path = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _TAGS))
    where = ".".join(str(p) for p in path) or "(top level)"
    line = lines.line(path) if lines else None
    if line is not None:
        where = f"{where} (line {line})"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] not in {"missing", "value_error"} and "input" in err:
        message = f"{message} (got {_show(err['input'])})"
    return Problem(where, message)


_TAGS = {"text", "markdown", "chat", "json", "label", "multi_label", "rating", "ranking", "span"}


def _expected(what: str, value: Any) -> str:
    return f"expected {what}, got {type(value).__name__} {_show(value)}"


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
