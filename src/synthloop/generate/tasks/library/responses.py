"""`responses`: candidate responses to prompts, for SFT review or preference ranking.

With `n: 1` each prompt gets one record with a `response` field. With `n: 3` each prompt gets one
record holding `response_1` .. `response_3` (three requests, told apart by their seeds) and a
ranking question over them, so annotators rank the candidates side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import Field

from synthloop.generate.tasks.base import (
    Output,
    SourceItem,
    Task,
    TaskOptions,
    Unit,
    register_task,
)


class ResponsesOptions(TaskOptions):
    n: int = Field(1, ge=1, le=16, description="candidate responses per prompt")
    field: str = Field("prompt", description="the source field holding the prompt")
    system: str | None = Field(None, description="a system prompt for the model")


@register_task
class Responses(Task):
    name = "responses"
    template = "responses"
    options = ResponsesOptions

    @property
    def n(self) -> int:
        return self._opts.n

    @property
    def _opts(self) -> ResponsesOptions:
        assert isinstance(self.config, ResponsesOptions)
        return self.config

    def units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        for item in items:
            prompt = item.fields[self._opts.field]
            requests = tuple(
                self.request(seed_offset=i, prompt=prompt, system=self._opts.system)
                for i in range(self.n)
            )
            yield Unit(
                key=self.key(item, requests),
                requests=requests,
                fields={"prompt": prompt},
                parent=item.id,
            )

    def build(self, unit: Unit, outputs: Sequence[Output]) -> dict[str, Any]:
        if self.n == 1:
            return {"response": outputs[0].completion.text}
        return {f"response_{i}": o.completion.text for i, o in enumerate(outputs, 1)}

    def settings(self) -> dict[str, Any]:
        if self.n == 1:
            names = ["response"]
            questions: list[dict[str, Any]] = [
                {"name": "quality", "type": "rating", "values": [1, 2, 3, 4, 5]},
                {"name": "correction", "type": "text", "prefill": "response", "required": False},
            ]
        else:
            names = [f"response_{i}" for i in range(1, self.n + 1)]
            questions = [{"name": "ranking", "type": "ranking", "options": names}]
        fields: list[dict[str, Any]] = [{"name": "prompt", "type": "text"}]
        fields += [{"name": name, "type": "text", "required": False} for name in names]
        return {"fields": fields, "questions": questions}
