"""The task contract: source items in, units of work out, one record (or suggestion set) per unit.

A *task* turns source items (a prompt file's rows, a dataset's records, a folder's documents)
into *units*. A unit is the work behind exactly one output: one record, or, for a task that
annotates (`judge`, `prelabel`), the suggestions on one existing record. A unit holds the fully
rendered requests it needs (usually one; `responses` with `n: 3` asks three, each with its own
seed so their cache keys differ) and the fields it carries into its record. When its requests
have all been answered (and each answer validated against the task's `output` model, re-asked
when invalid), `build` turns the answers into the record's fields.

Unit keys are deterministic (task, template version, source item, rendered requests, model), so
running the same recipe again makes the same keys: what is already stored is not asked again.

Prompts are Jinja2 files in `templates/`, named `NAME.vN.j2`; the highest N is the current
version and every record's provenance names it (`"template": "responses.v1"`). A template
defines the blocks `system` (optional) and `user`; each renders one message.

Tasks register by name with `@register_task`, as a plugin's would.
"""

from __future__ import annotations

import abc
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, ClassVar, Literal, TypeVar

import jinja2
import orjson
from pydantic import BaseModel, ConfigDict

from synthloop.errors import SynthloopError
from synthloop.generate.llm.base import Completion, Params, Request

__all__ = [
    "Feedback",
    "Output",
    "SourceItem",
    "Task",
    "TaskOptions",
    "Template",
    "Unit",
    "UnknownTask",
    "get_task",
    "load_template",
    "register_task",
    "task_names",
    "unit_key",
]


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One input to a task: `id` names it stably (a record's external id, "prompts.jsonl line
    3", a document chunk's path and index) and `fields` holds its values."""

    id: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Unit:
    """The work behind one output. `key` becomes the record's id (or, for annotating tasks, is
    the id of the record the suggestions go to); `fields` are carried into the record as they
    are; `parent` is the source record's id, when the source was a dataset; `extra` is what
    `build` needs besides the answers (a target language, a persona...)."""

    key: str
    requests: tuple[Request, ...]
    fields: Mapping[str, Any] = field(default_factory=dict)
    parent: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Feedback:
    """What the humans of earlier rounds said about this task's outputs, as few-shot examples:
    `positive` outputs they accepted or wrote (corrections), `negative` ones they rejected or
    corrected away. The loop (`synthloop.loop`) fills it between rounds; it changes the rendered
    prompts, so the next round's units are new ones."""

    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.positive or self.negative)

    def apply(self, messages: tuple[dict[str, str], ...]) -> tuple[dict[str, str], ...]:
        """The messages with the examples put before the last (user) message's text."""
        parts = []
        if self.positive:
            parts.append("Examples of good outputs:\n" + "\n".join(f"- {e}" for e in self.positive))
        if self.negative:
            parts.append("Examples to avoid:\n" + "\n".join(f"- {e}" for e in self.negative))
        *head, last = messages
        content = "\n\n".join([*parts, last["content"]])
        return (*head, {**last, "content": content})


@dataclass(frozen=True, slots=True)
class Output:
    """One validated answer: the completion, and the parsed value of a structured output (a
    dict from the task's `output` model's `model_dump()`), or None for free text."""

    completion: Completion
    value: dict[str, Any] | None = None


class TaskOptions(BaseModel):
    """A task's own recipe options (`options:` in a recipe). Subclass per task; unknown keys
    are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    version: int
    jinja: jinja2.Template

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        # A compiled Jinja template does not pickle; a distributed run's workers load their
        # own copy of the same shipped file.
        return load_template, (self.name, self.version)

    @property
    def label(self) -> str:
        """How provenance names it: "responses.v1"."""
        return f"{self.name}.v{self.version}"

    def messages(self, **context: Any) -> tuple[dict[str, str], ...]:
        """The chat messages this template renders for `context` (system first, if any)."""
        # One context for both blocks: building it is most of a render's cost.
        ctx = self.jinja.new_context(context)
        blocks = self.jinja.blocks
        user = {"role": "user", "content": "".join(blocks["user"](ctx)).strip()}
        if "system" not in blocks:
            return (user,)
        return ({"role": "system", "content": "".join(blocks["system"](ctx)).strip()}, user)


_TEMPLATE_FILE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.j2$")
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("synthloop.generate.tasks", "templates"),
    undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty prompt
    autoescape=False,  # prompts are plain text for a model, not HTML
    keep_trailing_newline=False,
)


@cache
def load_template(name: str, version: int | None = None) -> Template:
    """The template `name` at `version` (default: the highest one shipped)."""
    versions = {
        int(m["version"]): m.group(0)
        for entry in resources.files("synthloop.generate.tasks").joinpath("templates").iterdir()
        if (m := _TEMPLATE_FILE.match(entry.name)) and m["name"] == name
    }
    if not versions:
        raise SynthloopError(f"no prompt template named {name!r} in synthloop/generate/tasks")
    chosen = max(versions) if version is None else version
    if chosen not in versions:
        raise SynthloopError(
            f"template {name!r} has no version {chosen}; shipped: {sorted(versions)}"
        )
    template = _ENV.get_template(versions[chosen])
    if "user" not in template.blocks:
        raise SynthloopError(f"template {versions[chosen]} defines no 'user' block")
    return Template(name, chosen, template)


def unit_key(task: str, *parts: object) -> str:
    """A deterministic record id: the task's name and a digest of `parts` (the source item's
    id, the template label, the requests' digests, the model...)."""
    digest = hashlib.sha256(orjson.dumps([str(p) for p in parts])).hexdigest()[:24]
    return f"{task}-{digest}"


class Task(abc.ABC):
    """A generation task. Subclasses set `name`, `template` (a template name), `options` (a
    `TaskOptions` subclass) and, for structured output, `output` (a pydantic model the answer
    must match); they implement `units` and `build`. `kind` is "records" for tasks that make
    new records and "suggestions" for tasks that annotate existing ones (`build` then returns
    {question: {"value": ..., "score": ..., "rationale": ...}})."""

    name: ClassVar[str]
    template: ClassVar[str]
    options: ClassVar[type[TaskOptions]] = TaskOptions
    output: ClassVar[type[BaseModel] | None] = None
    kind: ClassVar[Literal["records", "suggestions"]] = "records"

    def __init__(
        self,
        options: Mapping[str, Any] | TaskOptions | None = None,
        *,
        params: Params | None = None,
        model: str = "",
        template_version: int | None = None,
        settings: Any = None,
        feedback: Feedback | None = None,
    ) -> None:
        self.config = (
            options if isinstance(options, TaskOptions) else self.options(**(options or {}))
        )
        self.params = params or Params()
        self.model = model  # part of every unit key: another model makes other records
        self.prompt = load_template(self.template, template_version)
        self.dataset_settings = settings  # the target dataset's Settings, when it exists
        self.feedback = feedback  # what earlier rounds' humans kept and corrected

    def schema(self) -> dict[str, Any] | None:
        """The JSON schema asked of the model, from `output`."""
        return None if self.output is None else self.output.model_json_schema()

    def parse(self, text: str) -> dict[str, Any] | None:
        """The answer's value for `build`: None for free text; for a structured output, the
        `output` model's dump of the JSON answer. Raises ValueError (pydantic's
        ValidationError is one) saying what is wrong, which is sent back to the model."""
        if self.output is None:
            return None
        return self.output.model_validate_json(text).model_dump()

    def reask(self, request: Request, answer: str, error: str) -> Request:
        """The request that asks again after `answer` failed validation with `error`: the
        conversation so far, the answer, and the error to fix."""
        messages = (
            *request.messages,
            {"role": "assistant", "content": answer},
            {
                "role": "user",
                "content": "That answer is not valid: "
                f"{error}\nAnswer again with only JSON that matches the schema.",
            },
        )
        return Request(messages, request.params, request.schema)

    def request(self, seed_offset: int = 0, **context: Any) -> Request:
        """A request rendering this task's template with `context`; `seed_offset` (with the
        recipe's seed) tells apart requests that would otherwise be identical."""
        params = self.params
        if seed_offset:
            base = params.seed or 0
            params = Params(
                temperature=params.temperature,
                max_tokens=params.max_tokens,
                top_p=params.top_p,
                stop=params.stop,
                seed=base + seed_offset,
                extra=params.extra,
            )
        messages = self.prompt.messages(**context)
        if self.feedback is not None and self.feedback:
            messages = self.feedback.apply(messages)
        return Request(messages, params, self.schema())

    def key(self, item: SourceItem, requests: Sequence[Request], *more: object) -> str:
        return unit_key(
            self.name,
            self.prompt.label,
            self.model,
            item.id,
            *(r.digest() for r in requests),
            *more,
        )

    def settings(self) -> dict[str, Any]:
        """Dataset settings to create the target dataset with when it does not exist yet (fields
        this task writes, and questions a human would answer about them)."""
        return {"fields": [{"name": "text", "type": "text"}], "questions": []}

    @abc.abstractmethod
    def units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        """The units of work for these source items, lazily, in a stable order."""

    @abc.abstractmethod
    def build(self, unit: Unit, outputs: Sequence[Output]) -> dict[str, Any]:
        """The record's fields (merged over `unit.fields`) from the unit's validated answers, one
        per request, in order; for `kind = "suggestions"`, the suggestions by question."""


class UnknownTask(SynthloopError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"task {name!r} is not known; known tasks: {', '.join(task_names())}; "
            "check the recipe's `task:`"
        )


_TASKS: dict[str, type[Task]] = {}
_T = TypeVar("_T", bound=type[Task])


def register_task(cls: _T) -> _T:
    """Class decorator: make a task available by its `name` (a later one replaces it)."""
    _TASKS[cls.name] = cls
    return cls


def task_names() -> list[str]:
    _load_builtins()
    return sorted(_TASKS)


def get_task(name: str) -> type[Task]:
    _load_builtins()
    try:
        return _TASKS[name]
    except KeyError:
        raise UnknownTask(name) from None


@cache
def _load_builtins() -> None:
    import synthloop.generate.tasks.library  # noqa: F401  (registers the built-in tasks)
