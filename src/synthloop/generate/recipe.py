"""Recipes: a generation run described in YAML, validated with every problem at once.

    dataset: replies
    task: responses
    source: {file: prompts.jsonl, field: prompt}
    backend: {type: openai, base_url: "http://127.0.0.1:8000/v1", model: any-model,
              max_concurrency: 50}
    n: 1
    params: {temperature: 0.7, max_tokens: 256}

Beyond these keys: `options` (the task's own), `template_version`, `seed`, `retries`
(max_retries, timeout, reasks for invalid structured answers...), `prices` (USD per million
tokens, by model), `budget` (max_cost, max_tokens) and `curate` (curation steps, as
`synthloop curate --steps` takes them, run over the dataset's pending records afterwards).
Problems are reported with the key's path and the YAML line, all at once; nothing runs until the
recipe is valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthloop.errors import Problem, ProblemList
from synthloop.generate.llm.base import Params
from synthloop.generate.tasks.base import Feedback
from synthloop.settings import _LineIndex, _problem

__all__ = ["BackendSpec", "Budget", "Price", "Recipe", "RecipeError", "Retries", "Source"]


class RecipeError(ProblemList):
    headline = "invalid recipe"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    """Where the inputs come from: exactly one of `file` (JSONL, CSV or Parquet; `field` names
    the column holding the input), `dataset` (records of a dataset, optionally by `status`),
    `folder` (.txt, .md and .html documents) or `items` (inline rows). None at all is allowed
    for tasks that need no input (edge cases along a taxonomy)."""

    file: Path | None = None
    dataset: str | None = None
    folder: Path | None = None
    items: list[dict[str, Any]] | None = None
    field: str | None = None
    status: list[str] | None = None
    limit: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        given = [k for k in ("file", "dataset", "folder", "items") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(
                f"give one of file, dataset, folder or items, not {' and '.join(given)}"
            )
        if self.status is not None and self.dataset is None:
            raise ValueError("`status` filters a dataset source; add `dataset: NAME` or remove it")
        return self


class BackendSpec(BaseModel):
    """`type` picks the registered backend; every other key is passed to it as configuration
    (base_url, model, api_key_env, timeout, max_concurrency for `openai`)."""

    model_config = ConfigDict(extra="allow")

    type: str
    max_concurrency: int = Field(50, ge=1, le=10_000)

    def config(self) -> dict[str, Any]:
        return {"max_concurrency": self.max_concurrency, **(self.model_extra or {})}


class Retries(_Strict):
    max_retries: int = Field(5, ge=0, le=100)
    timeout: float | None = Field(None, gt=0, description="seconds per attempt")
    base_delay: float = Field(0.5, ge=0)
    max_delay: float = Field(30.0, ge=0)
    reasks: int = Field(2, ge=0, le=10, description="re-asks after an invalid structured answer")
    bad_response_retries: int = Field(1, ge=0, le=10)


class Price(_Strict):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class Budget(_Strict):
    max_cost: float | None = Field(None, gt=0, description="USD")
    max_tokens: int | None = Field(None, gt=0)


class ParamsSpec(BaseModel):
    """Sampling parameters; unknown keys are sent to the backend as they are."""

    model_config = ConfigDict(extra="allow")

    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: list[str] | None = None
    seed: int | None = None

    def to_params(self) -> Params:
        return Params(
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            top_p=self.top_p,
            stop=tuple(self.stop) if self.stop is not None else None,
            seed=self.seed,
            extra=dict(self.model_extra or {}),
        )


class Recipe(_Strict):
    dataset: str = Field(min_length=1)
    task: str = Field(min_length=1)
    source: Source = Field(default_factory=Source)
    backend: BackendSpec
    n: int | None = Field(None, ge=1, le=16, description="outputs per input, for tasks with `n`")
    params: ParamsSpec = Field(default_factory=ParamsSpec)
    options: dict[str, Any] = Field(default_factory=dict)
    template_version: int | None = Field(None, ge=1)
    retries: Retries = Field(default_factory=Retries)
    prices: dict[str, Price] = Field(default_factory=dict)
    budget: Budget = Field(default_factory=Budget)
    seed: int = 0
    curate: list[dict[str, Any]] = Field(
        default_factory=list, description="curation steps run on the new records afterwards"
    )
    kind: Literal["generate"] = "generate"

    # Where the recipe was read from: relative source paths resolve against its folder, and
    # problems found after parsing (backend options, task options) are told with their line.
    _base: Path = Path()
    _source: str = "<recipe>"
    _lines: _LineIndex | None = None
    # Set by the loop (`for_round`), never read from YAML: the round a run belongs to (recorded
    # in provenance) and the earlier rounds' examples for the prompts.
    _round: int = 0
    _feedback: Feedback | None = None
    _boost: dict[str, int] = {}  # source item id -> extra variations asked of it

    @property
    def round(self) -> int:
        return self._round

    @property
    def feedback(self) -> Feedback | None:
        return self._feedback

    @property
    def boost(self) -> dict[str, int]:
        return self._boost

    def for_round(
        self,
        number: int,
        feedback: Feedback | None = None,
        boost: dict[str, int] | None = None,
    ) -> Recipe:
        """This recipe as round `number` of a loop, with `feedback` for the prompts and `boost`
        extra variations for some source items (by id)."""
        copy = self.model_copy()
        copy._round, copy._feedback, copy._boost = number, feedback, dict(boost or {})
        return copy

    @property
    def base(self) -> Path:
        return self._base

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self._base / path

    def error(self, problems: list[Problem]) -> RecipeError:
        """A RecipeError naming this recipe, each problem at a recipe key given its line."""
        return RecipeError([self._locate(p) for p in problems], source=self._source)

    def _locate(self, problem: Problem) -> Problem:
        path = tuple(int(p) if p.isdigit() else p for p in problem.where.split("."))
        if (
            self._lines is None
            or path[0] not in type(self).model_fields
            or "(line" in problem.where
        ):
            return problem
        line = self._lines.line(path)
        return Problem(f"{problem.where} (line {line})", problem.message) if line else problem

    @classmethod
    def parse(cls, data: Any, source: str = "<recipe>", lines: _LineIndex | None = None) -> Recipe:
        if not isinstance(data, dict):
            raise RecipeError(
                [Problem(source, "a recipe is a mapping with dataset, task, backend")]
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise RecipeError([_problem(e, lines) for e in exc.errors()], source=source) from None

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RecipeError([Problem(str(path), f"cannot read the recipe: {exc}")]) from None
        recipe = cls.loads(text, source=str(path))
        recipe._base = path.parent
        return recipe

    @classmethod
    def loads(cls, text: str, source: str = "<recipe>") -> Recipe:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RecipeError([Problem(source, f"not valid YAML: {exc}")]) from None
        lines = _LineIndex(node)
        recipe = cls.parse(data, source=source, lines=lines)
        recipe._source, recipe._lines = source, lines
        return recipe
