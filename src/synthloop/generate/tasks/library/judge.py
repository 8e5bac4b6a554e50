"""`judge`: an LLM's scores on a dataset's own records, stored as suggestions, not answers.

Suggestions pre-fill what annotators see and can be compared with their answers, so a judge's
agreement with people is measured before anyone trusts it. Each rubric criterion becomes one
suggestion, on the rating question of the same name when the dataset has one; the score is the
value scaled to 0..1 so judges with different scales compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel, Field, field_validator

from synthloop.generate.tasks.base import (
    Output,
    SourceItem,
    Task,
    TaskOptions,
    Unit,
    register_task,
)
from synthloop.generate.tasks.library._common import (
    Named,
    source_text,
    task_options,
    unique_names,
)

__all__ = ["Judge", "JudgeOptions", "Judgement"]


class JudgeOptions(TaskOptions):
    rubric: list[Named] = Field(
        [Named(name="quality", description="overall helpfulness, correctness and clarity")],
        min_length=1,
        description="criteria to score ({name, description}); one suggestion each",
    )
    scale: tuple[int, int] = Field((1, 5), description="lowest and highest score, e.g. [1, 5]")
    prompt_field: str = Field("prompt", description="the record field holding the prompt")
    response_field: str = Field("response", description="the record field holding the response")

    @field_validator("rubric")
    @classmethod
    def _unique_criteria(cls, rubric: list[Named]) -> list[Named]:
        return unique_names(rubric, "rubric criterion")

    @field_validator("scale")
    @classmethod
    def _ordered(cls, scale: tuple[int, int]) -> tuple[int, int]:
        if scale[0] >= scale[1]:
            raise ValueError(f"scale {list(scale)} must be [lowest, highest] with lowest < highest")
        return scale


class Judgement(BaseModel):
    scores: dict[str, int]
    rationale: str


@register_task
class Judge(Task):
    name = "judge"
    template = "judge"
    options = JudgeOptions
    output = Judgement
    kind = "suggestions"

    @property
    def _opts(self) -> JudgeOptions:
        return task_options(self, JudgeOptions)

    def schema(self) -> dict[str, Any]:
        """`Judgement` with one bounded integer property per criterion, all required."""
        low, high = self._opts.scale
        names = [c.name for c in self._opts.rubric]
        scores = {
            "type": "object",
            "properties": {n: {"type": "integer", "minimum": low, "maximum": high} for n in names},
            "required": names,
            "additionalProperties": False,
        }
        return {
            "type": "object",
            "title": "Judgement",
            "properties": {"scores": scores, "rationale": {"type": "string"}},
            "required": ["scores", "rationale"],
        }

    def parse(self, text: str) -> dict[str, Any]:
        value = Judgement.model_validate_json(text).model_dump()
        low, high = self._opts.scale
        names = [c.name for c in self._opts.rubric]
        scores = value["scores"]
        missing = [n for n in names if n not in scores]
        if missing:
            raise ValueError(
                f"scores has no {', '.join(map(repr, missing))}; score every criterion "
                f"({', '.join(names)}) with an integer {low}..{high}"
            )
        unknown = sorted(set(scores) - set(names))
        if unknown:
            raise ValueError(
                f"scores has {', '.join(map(repr, unknown))}, which the rubric does not name; "
                f"score only {', '.join(names)}"
            )
        for name in names:
            if not low <= scores[name] <= high:
                raise ValueError(
                    f"score {scores[name]} for {name!r} is outside {low}..{high}; "
                    f"use an integer from {low} to {high}"
                )
        return value

    def units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        opts = self._opts
        low, high = opts.scale
        for item in items:
            request = self.request(
                prompt=source_text(self, item, opts.prompt_field, "prompt_field"),
                response=source_text(self, item, opts.response_field, "response_field"),
                rubric=[c.model_dump() for c in opts.rubric],
                low=low,
                high=high,
            )
            yield Unit(key=item.id, requests=(request,))

    def build(self, unit: Unit, outputs: Sequence[Output]) -> dict[str, Any]:
        """One suggestion per criterion, whether or not the dataset has a rating question of
        that name (the pipeline decides what to store)."""
        value = outputs[0].value or {}
        low, high = self._opts.scale
        return {
            c.name: {
                "value": value["scores"][c.name],
                "score": (value["scores"][c.name] - low) / (high - low),
                "rationale": value["rationale"],
            }
            for c in self._opts.rubric
        }

    def settings(self) -> dict[str, Any]:
        low, high = self._opts.scale
        return {
            "fields": [
                {"name": self._opts.prompt_field, "type": "text"},
                {"name": self._opts.response_field, "type": "text"},
            ],
            "questions": [
                {
                    "name": c.name,
                    "type": "rating",
                    "values": list(range(low, high + 1)),
                    **({"description": c.description} if c.description else {}),
                }
                for c in self._opts.rubric
            ],
        }
