"""The curation contract: steps over a dataset's documents, returning decisions with reasons.

A *step* (dedup, PII, language, quality rules, decontamination) sees the dataset's candidate
records as `Doc`s (the text to judge, per text field and joined) and returns a `StepResult`:
which docs it rejects and why (a reason and details: the kept duplicate's id, the PII types
found, the matched evaluation item), which fields it rewrites (PII redaction), and what it notes
on the records it keeps (PII flags, the detected language). Steps never write; the runner
(`curate.run`) applies their results, so a rejected record becomes `rejected` with its reason and
details in metadata, never deleted.

Steps run in order and each sees only what the steps before it kept. They register by name
with `@register_step`, as a plugin's would, with a pydantic options model.
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from synthloop.errors import SynthloopError
from synthloop.runners import LocalRunner, Runner

__all__ = [
    "Context",
    "Doc",
    "Rejection",
    "Step",
    "StepOptions",
    "StepResult",
    "UnknownStep",
    "get_step",
    "register_step",
    "step_names",
]


@dataclass(frozen=True, slots=True)
class Doc:
    """What a step sees of one record. `texts` holds the record's text and markdown fields (and
    chat fields as "role: content" lines) by name; `text` joins them with blank lines, in the
    dataset's field order. `score` is a judge's score when the record has one (0..1), for
    survivor rules; `source` is synthetic, human or imported."""

    id: int
    key: str
    texts: Mapping[str, str]
    source: str = "imported"
    score: float | None = None
    dataset: str = ""

    @property
    def text(self) -> str:
        return "\n\n".join(t for t in self.texts.values() if t)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a step threw a record out. `reason` is short and machine-readable (`near_duplicate`,
    `pii`, `language`, `too_short`, `contaminated`...); `details` says what was found."""

    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class StepResult:
    """A step's decisions, by doc id. `redacted` maps a doc to its rewritten text fields (only
    those that changed); `notes` to what the runner records in the record's metadata under
    `curation.<step>`; `counts` to whatever the step counts (PII by type, languages)."""

    rejected: dict[int, Rejection] = field(default_factory=dict)
    redacted: dict[int, dict[str, str]] = field(default_factory=dict)
    notes: dict[int, dict[str, Any]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


class Context(abc.ABC):
    """What a step may ask of the run: another dataset's documents (dedup across datasets), and
    the runner to spread heavy work over (`runners`; local by default)."""

    runner: Runner = LocalRunner()

    @abc.abstractmethod
    def docs_of(self, dataset: str) -> list[Doc]:
        """Every record of `dataset` as a Doc, whatever its status."""


class StepOptions(BaseModel):
    """A step's options; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(abc.ABC):
    """A curation step. Subclasses set `name` and `options` (a StepOptions subclass) and
    implement `run`."""

    name: ClassVar[str]
    options: ClassVar[type[StepOptions]] = StepOptions
    # A per-doc step decides each doc on its own (no doc's decision depends on another's), so a
    # distributed runner may run it over shards of the docs and merge the results.
    per_doc: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any] | StepOptions | None = None) -> None:
        self.config = (
            options if isinstance(options, StepOptions) else self.options(**(options or {}))
        )

    @abc.abstractmethod
    def run(self, docs: Sequence[Doc], context: Context) -> StepResult:
        """Decide about `docs` (the records the earlier steps kept)."""


class UnknownStep(SynthloopError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"curation step {name!r} is not known; known steps: {', '.join(step_names())}"
        )


_STEPS: dict[str, type[Step]] = {}
_S = TypeVar("_S", bound=type[Step])


def register_step(cls: _S) -> _S:
    """Class decorator: make a step available by its `name` (a later one replaces it)."""
    _STEPS[cls.name] = cls
    return cls


def step_names() -> list[str]:
    _load_builtins()
    return sorted(_STEPS)


def get_step(name: str) -> type[Step]:
    _load_builtins()
    try:
        return _STEPS[name]
    except KeyError:
        raise UnknownStep(name) from None


@cache
def _load_builtins() -> None:
    import synthloop.curate.steps  # noqa: F401  (registers the built-in steps)
