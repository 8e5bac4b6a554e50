"""`self_instruct`: new instructions written from a few sampled seed tasks (Self-Instruct).

Each unit shows the model `seeds_per_prompt` seed tasks drawn from all of them with
`random.Random(seed + i)`, so unit i's sample does not depend on `n` and raising `n` keeps the
records already made. The seeds only inspire: a record holds the new instruction, not its parents.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel, Field

from synthloop.errors import SynthloopError
from synthloop.generate.tasks.base import (
    Output,
    SourceItem,
    Task,
    TaskOptions,
    Unit,
    register_task,
    unit_key,
)
from synthloop.generate.tasks.library._common import source_text, task_options

__all__ = ["NewInstruction", "SelfInstruct", "SelfInstructOptions"]


class SelfInstructOptions(TaskOptions):
    field: str = Field("instruction", description="the source field holding a seed task")
    seeds_per_prompt: int = Field(3, ge=1, le=20, description="seed tasks shown per prompt")
    n: int = Field(10, ge=1, description="new instructions to write")
    seed: int = Field(0, description="seeds the sampling of seed tasks")


class NewInstruction(BaseModel):
    instruction: str
    input: str = ""


@register_task
class SelfInstruct(Task):
    name = "self_instruct"
    template = "self_instruct"
    options = SelfInstructOptions
    output = NewInstruction

    @property
    def _opts(self) -> SelfInstructOptions:
        return task_options(self, SelfInstructOptions)

    def units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        opts = self._opts
        seeds = list(items)  # every unit samples over all of them
        if not seeds:
            raise SynthloopError(
                "task 'self_instruct' needs seed tasks as its source, and the source is empty; "
                "point the recipe's source at a file with a few example instructions"
            )
        texts = {s.id: source_text(self, s, opts.field, "field") for s in seeds}
        per_prompt = min(opts.seeds_per_prompt, len(seeds))
        for i in range(opts.n):
            sample = random.Random(opts.seed + i).sample(seeds, per_prompt)
            request = self.request(seed_offset=i, examples=[texts[s.id] for s in sample])
            ids = [s.id for s in sample]
            yield Unit(
                key=unit_key(self.name, self.prompt.label, self.model, *ids, request.digest()),
                requests=(request,),
            )

    def build(self, unit: Unit, outputs: Sequence[Output]) -> dict[str, Any]:
        value = outputs[0].value or {}
        return {"instruction": value["instruction"], "input": value["input"]}

    def settings(self) -> dict[str, Any]:
        return {
            "fields": [
                {"name": "instruction", "type": "text", "required": False},
                {"name": "input", "type": "text", "required": False},
            ],
            "questions": [
                {
                    "name": "usable",
                    "type": "label",
                    "labels": ["yes", "no"],
                    "description": "Is this a clear, self-contained task worth training on?",
                },
                {"name": "quality", "type": "rating", "values": [1, 2, 3, 4, 5]},
                {
                    "name": "instruction_correction",
                    "type": "text",
                    "prefill": "instruction",
                    "required": False,
                },
            ],
        }
