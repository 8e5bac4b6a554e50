"""Turns an input row (a dict from JSONL, CSV, Parquet or Python) into a validated Record.

A row is either *flat* (keys are field names, plus the optional record keys below) or *nested*
(`{"id", "fields", "metadata", "provenance", "suggestions", "responses", ...}`); a `fields` key
makes it nested. Rows from columnar files (CSV, Parquet) may carry objects as JSON text.
Every problem in a row is reported, not just the first.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from synthloop.records import (
    RESPONSE_STATUSES,
    SOURCES,
    STATUSES,
    STATUSES_NEEDING_REASON,
    Record,
    Response,
    Suggestion,
)
from synthloop.settings import RESERVED_NAMES, Settings

__all__ = ["RowParser"]

_OBJECT_KEYS = ("metadata", "provenance", "suggestions", "final")


class RowParser:
    """Validates rows against one dataset's settings."""

    def __init__(
        self, settings: Settings, mapping: dict[str, str] | None = None, columnar: bool = False
    ) -> None:
        self.settings = settings
        self.fields = {f.name: f for f in settings.fields}
        self.questions = {q.name: q for q in settings.questions}
        self.required_questions = [q.name for q in settings.questions if q.required]
        # mapping is target=source (`--map text=question`): the column `question` fills `text`.
        self.renames = {source: target for target, source in (mapping or {}).items()}
        self.columnar = columnar

    def check_columns(self, columns: list[str]) -> list[str]:
        """Problems with a columnar file's header, found once instead of on every row."""
        shown = ", ".join(columns)
        problems = [
            f"--map {target}={source}: the file has no column {source!r} (columns: {shown})"
            for source, target in self.renames.items()
            if source not in columns
        ]
        names = [self.renames.get(c, c) for c in columns]
        if "fields" in names:
            return problems
        problems += [
            f"column {name!r} is missing: it holds the required field {name!r}; add it, or take "
            f"it from another column with --map {name}=COLUMN (columns: {shown})"
            for name, spec in self.fields.items()
            if spec.required and name not in names
        ]
        unknown = [c for c in names if c not in self.fields and c not in RESERVED_NAMES]
        if unknown:
            problems.append(
                f"{_plural(unknown, 'column')} {', '.join(map(repr, unknown))} "
                f"{'matches' if len(unknown) == 1 else 'match'} no field "
                f"(fields: {', '.join(self.fields)}); rename with "
                "--map FIELD=COLUMN or drop the column"
            )
        return problems

    def parse(self, row: dict[str, Any]) -> tuple[Record | None, list[str]]:
        """Return the record, or None and the list of every problem found in the row.

        A record without an `id` comes back with `external_id` None; the caller decides identity.
        """
        if self.renames:
            row = {self.renames.get(k, k): v for k, v in row.items()}
        problems: list[str] = []
        if self.columnar:
            row = self._decode_columns(row, problems)
        fields = self._fields(row, problems)
        record = Record(
            fields=fields,
            external_id=self._external_id(row.get("id"), problems),
            metadata=self._object(row, "metadata", problems),
            provenance=self._provenance(row, problems),
            status=self._status(row, problems),
            reason=self._reason(row, problems),
            priority=self._priority(row.get("priority"), problems),
            suggestions=self._suggestions(row.get("suggestions"), fields, problems),
            responses=self._responses(row.get("responses"), fields, problems),
            final=self._final(row.get("final"), fields, problems),
        )
        if problems:
            return None, problems
        return record, problems

    # ------------------------------------------------------------ shape

    def _decode_columns(self, row: dict[str, Any], problems: list[str]) -> dict[str, Any]:
        """CSV cells are text and Parquet exports keep objects as JSON text: decode those."""
        out: dict[str, Any] = {}
        for key, value in row.items():
            if value is None or (value == "" and (key not in self.fields or self._holds_json(key))):
                continue  # an absent value; "" is a value only for a text field
            if isinstance(value, str) and self._holds_json(key):
                try:
                    value = orjson.loads(value)
                except orjson.JSONDecodeError as exc:
                    problems.append(f"column {key!r} must hold JSON: {exc}")
                    continue
            out[key] = value
        return out

    def _holds_json(self, key: str) -> bool:
        if key in self.fields:
            return self.fields[key].type in ("chat", "json")
        return key in (*_OBJECT_KEYS, "responses")

    def _fields(self, row: dict[str, Any], problems: list[str]) -> dict[str, Any]:
        if "fields" in row:
            values = row["fields"]
            if not isinstance(values, dict):
                problems.append(f"'fields' must be an object, got {_kind(values)}")
                return {}
            unknown = sorted(k for k in row if k not in RESERVED_NAMES)
            if unknown:
                problems.append(
                    f"unknown keys {unknown} beside 'fields'; "
                    f"allowed: {', '.join(sorted(RESERVED_NAMES))}"
                )
        else:
            values = {k: v for k, v in row.items() if k not in RESERVED_NAMES}
        return self._check_fields(values, problems)

    def _check_fields(self, values: dict[str, Any], problems: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, spec in self.fields.items():
            value = values.get(name)
            if value is None:
                if spec.required:
                    problems.append(f"field {name!r} is required but missing")
                continue
            problem = spec.check(value)
            if problem:
                problems.append(f"field {name!r} ({spec.type}): {problem}")
            out[name] = value
        unknown = [k for k in values if k not in self.fields]
        if unknown:
            problems.append(
                f"{_plural(unknown, 'key')} {', '.join(map(repr, unknown))} "
                f"{'is not a field' if len(unknown) == 1 else 'are not fields'} of this dataset "
                f"(fields: {', '.join(self.fields)}); rename with --map FIELD=COLUMN or remove"
            )
        return out

    # ------------------------------------------------------------ record keys

    @staticmethod
    def _external_id(value: Any, problems: list[str]) -> str | None:
        if value is None or (isinstance(value, str) and value):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        problems.append(f"'id' must be a non-empty string or an integer, got {_kind(value)}")
        return None

    @staticmethod
    def _object(row: dict[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
        value = row.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            problems.append(f"{key!r} must be an object, got {_kind(value)}")
            return {}
        return value

    def _provenance(self, row: dict[str, Any], problems: list[str]) -> dict[str, Any]:
        provenance = dict(self._object(row, "provenance", problems))
        source = provenance.setdefault("source", "imported")
        if source not in SOURCES:
            problems.append(f"provenance source {source!r} is not one of {list(SOURCES)}")
        return provenance

    @staticmethod
    def _status(row: dict[str, Any], problems: list[str]) -> str:
        status = row.get("status") or "pending"
        if status not in STATUSES:
            problems.append(f"status {status!r} is not one of {list(STATUSES)}")
        return str(status)

    @staticmethod
    def _reason(row: dict[str, Any], problems: list[str]) -> str | None:
        reason, status = row.get("reason"), row.get("status")
        if reason is not None and not isinstance(reason, str):
            problems.append(f"'reason' must be a string, got {_kind(reason)}")
        elif isinstance(status, str) and status in STATUSES_NEEDING_REASON and not reason:
            problems.append(f"status {status!r} needs a 'reason': nothing is dropped without one")
        return reason

    @staticmethod
    def _priority(value: Any, problems: list[str]) -> float:
        if value is None:
            return 0.0
        if isinstance(value, str):  # CSV cells are text
            value = _number(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        problems.append(f"'priority' must be a finite number, got {_kind(value)}")
        return 0.0

    # ------------------------------------------------------------ answers

    def _answer(self, question: str, value: Any, fields: dict[str, Any]) -> str | None:
        spec = self.questions.get(question)
        if spec is None:
            known = ", ".join(self.questions) or "none"
            return f"question {question!r} does not exist (questions: {known})"
        problem = spec.check(value, fields)
        return f"question {question!r}: {problem}" if problem else None

    def _suggestions(
        self, value: Any, fields: dict[str, Any], problems: list[str]
    ) -> dict[str, Suggestion]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            problems.append(
                f"'suggestions' must map question to {{value, score, agent}}, got {_kind(value)}"
            )
            return {}
        out: dict[str, Suggestion] = {}
        for question, item in value.items():
            if not isinstance(item, dict) or "value" not in item:
                problems.append(f"suggestion for {question!r} must be {{value, score, agent}}")
                continue
            problem = self._answer(question, item["value"], fields) or _suggestion_meta(item)
            if problem:
                problems.append(f"suggestion: {problem}")
                continue
            out[question] = Suggestion(item["value"], item.get("score"), item.get("agent"))
        return out

    def _responses(self, value: Any, fields: dict[str, Any], problems: list[str]) -> list[Response]:
        if value is None:
            return []
        if not isinstance(value, list):
            problems.append(f"'responses' must be a list, got {_kind(value)}")
            return []
        out: list[Response] = []
        users: set[str] = set()
        for i, item in enumerate(value):
            response = self._response(i, item, fields, problems)
            if response is None:
                continue
            if response.user in users:
                problems.append(
                    f"response {i}: user {response.user!r} answers twice; "
                    "keep one response per user"
                )
            users.add(response.user)
            out.append(response)
        return out

    def _response(
        self, i: int, item: Any, fields: dict[str, Any], problems: list[str]
    ) -> Response | None:
        where = f"response {i}"
        if not isinstance(item, dict):
            problems.append(f"{where} must be {{user, values, status}}, got {_kind(item)}")
            return None
        user, values = item.get("user"), item.get("values") or {}
        status, duration = item.get("status") or "submitted", item.get("duration")
        before = len(problems)
        if not isinstance(user, str) or not user:
            problems.append(f"{where}: 'user' must be a non-empty string")
        if status not in RESPONSE_STATUSES:
            problems.append(f"{where}: status {status!r} is not one of {list(RESPONSE_STATUSES)}")
        if duration is not None and not (isinstance(duration, int | float) and duration >= 0):
            problems.append(f"{where}: 'duration' must be seconds >= 0, got {duration!r}")
        if not isinstance(values, dict):
            problems.append(f"{where}: 'values' must map question to answer")
            return None
        problems.extend(
            f"{where}: {p}" for q, v in values.items() if (p := self._answer(q, v, fields))
        )
        if status == "submitted":
            missing = [q for q in self.required_questions if q not in values]
            if missing:
                problems.append(
                    f"{where}: a submitted response must answer the required "
                    f"questions; missing {missing}"
                )
        if len(problems) > before:
            return None
        return Response(user, values, status, duration)  # type: ignore[arg-type]

    def _final(
        self, value: Any, fields: dict[str, Any], problems: list[str]
    ) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            problems.append(f"'final' must map question to value, got {_kind(value)}")
            return None
        problems.extend(
            f"final: {p}" for q, v in value.items() if (p := self._answer(q, v, fields))
        )
        return value


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _suggestion_meta(item: dict[str, Any]) -> str | None:
    score, agent = item.get("score"), item.get("agent")
    if score is not None and not (isinstance(score, int | float) and not isinstance(score, bool)):
        return f"score must be a number, got {_kind(score)}"
    if agent is not None and not isinstance(agent, str):
        return f"agent must be a string, got {_kind(agent)}"
    return None


def _kind(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _plural(items: list[Any], word: str) -> str:
    return word if len(items) == 1 else word + "s"
