"""`evolve`: harder versions of existing instructions (Evol-Instruct's in-depth and in-breadth
rewrites), one per method, so a plain seed set grows into a graded one.

A record keeps the original and the method next to the evolved instruction: an annotator judges
the rewrite against what it came from, and a filter can keep or drop a method.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from synthloop.generate.tasks.base import (
    Output,
    SourceItem,
    Task,
    TaskOptions,
    Unit,
    register_task,
)
from synthloop.generate.tasks.library._common import source_text, task_options

__all__ = ["METHODS", "Evolve", "EvolveOptions", "EvolvedInstruction"]

Method = Literal["deepen", "broaden", "constraints", "concretize", "reasoning"]
METHODS: tuple[Method, ...] = ("deepen", "broaden", "constraints", "concretize", "reasoning")


class EvolveOptions(TaskOptions):
    field: str = Field("instruction", description="the source field holding the instruction")
    methods: list[Method] = Field(
        ["deepen", "broaden", "constraints"],
        min_length=1,
        description="rewrites to make, one record each: " + ", ".join(METHODS),
    )

    @field_validator("methods")
    @classmethod
    def _unique(cls, methods: list[Method]) -> list[Method]:
        if len(set(methods)) != len(methods):
            raise ValueError(f"methods {methods} repeat a method; list each once")
        return methods


class EvolvedInstruction(BaseModel):
    instruction: str


@register_task
class Evolve(Task):
    name = "evolve"
    template = "evolve"
    options = EvolveOptions
    output = EvolvedInstruction

    @property
    def _opts(self) -> EvolveOptions:
        return task_options(self, EvolveOptions)

    def units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        opts = self._opts
        for item in items:
            original = source_text(self, item, opts.field, "field")
            for method in opts.methods:
                request = self.request(instruction=original, method=method)
                yield Unit(
                    key=self.key(item, [request], method),
                    requests=(request,),
                    fields={"original": original, "method": method},
                    parent=item.id,
                )

    def build(self, unit: Unit, outputs: Sequence[Output]) -> dict[str, Any]:
        return {"instruction": (outputs[0].value or {})["instruction"]}

    def settings(self) -> dict[str, Any]:
        return {
            "fields": [
                {"name": "instruction", "type": "text", "required": False},
                {"name": "original", "type": "text"},
                {"name": "method", "type": "text"},
            ],
            "questions": [
                {
                    "name": "improved",
                    "type": "label",
                    "labels": ["yes", "no"],
                    "description": "Is the rewrite harder or richer than the original, and still "
                    "answerable?",
                },
                {"name": "quality", "type": "rating", "values": [1, 2, 3, 4, 5]},
            ],
        }
