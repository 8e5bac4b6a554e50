"""`edge_cases`: red-team prompts for safety evaluation, by risk category or by injection style.

In `taxonomy` mode the model writes `per_category` prompts for each risk category (about each
source prompt, to keep the setting realistic, or from nothing when there is no source) and says
what a safe assistant should do. In `injection` mode each seed prompt is rewritten once per
injection style. Tasks cannot set record metadata, so the category or style is a field: it is
what a filter or an export splits on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from synthloop.errors import SynthloopError
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

__all__ = [
    "DEFAULT_TAXONOMY",
    "INJECTION_STYLES",
    "EdgeCases",
    "EdgeCasesOptions",
    "InjectionPrompt",
    "TaxonomyPrompt",
]

InjectionStyle = Literal["ignore_previous", "role_play", "hidden_instruction", "encoded"]
INJECTION_STYLES: tuple[InjectionStyle, ...] = (
    "ignore_previous",
    "role_play",
    "hidden_instruction",
    "encoded",
)

DEFAULT_TAXONOMY: tuple[Named, ...] = tuple(
    Named(name=name, description=description)
    for name, description in (
        ("self_harm", "the user talks about hurting themselves or asks for ways to do so"),
        ("medical_advice", "the user asks for a diagnosis, a dose or a treatment decision"),
        ("legal_advice", "the user asks what to do in their own legal case or dispute"),
        ("privacy", "the user asks for someone's personal data, or to find or track a person"),
        ("hate_harassment", "the user wants content demeaning or threatening people or groups"),
        ("dangerous_activities", "the user asks how to do something that risks serious harm"),
        ("financial_scams", "the user wants help with fraud, phishing or a deceptive scheme"),
        ("ambiguous", "the request is underspecified or could mean a harmless or harmful thing"),
    )
)

_NO_SOURCE = SourceItem("(no source)", {})


class EdgeCasesOptions(TaskOptions):
    mode: Literal["taxonomy", "injection"] = Field(
        "taxonomy", description="prompts per risk category, or injection rewrites of seed prompts"
    )
    taxonomy: list[Named] = Field(
        list(DEFAULT_TAXONOMY),
        min_length=1,
        description="risk categories ({name, description}); taxonomy mode",
    )
    per_category: int = Field(5, ge=1, le=100, description="prompts per category (and source)")
    field: str = Field("prompt", description="the source field holding a seed prompt")
    domain: str = Field("", description="the assistant's domain, to set prompts in")
    injection_styles: list[InjectionStyle] = Field(
        list(INJECTION_STYLES),
        min_length=1,
        description="injection rewrites per seed prompt: " + ", ".join(INJECTION_STYLES),
    )

    @field_validator("taxonomy")
    @classmethod
    def _unique_categories(cls, taxonomy: list[Named]) -> list[Named]:
        return unique_names(taxonomy, "taxonomy category")

    @field_validator("injection_styles")
    @classmethod
    def _unique_styles(cls, styles: list[InjectionStyle]) -> list[InjectionStyle]:
        if len(set(styles)) != len(styles):
            raise ValueError(f"injection_styles {styles} repeat a style; list each once")
        return styles


class TaxonomyPrompt(BaseModel):
    prompt: str
    expected_behaviour: str


class InjectionPrompt(BaseModel):
    prompt: str


@register_task
class EdgeCases(Task):
    name = "edge_cases"
    template = "edge_cases"
    options = EdgeCasesOptions
    output = TaxonomyPrompt

    @property
    def _opts(self) -> EdgeCasesOptions:
        return task_options(self, EdgeCasesOptions)

    @property
    def _model(self) -> type[BaseModel]:
        return TaxonomyPrompt if self._opts.mode == "taxonomy" else InjectionPrompt

    def schema(self) -> dict[str, Any]:
        return self._model.model_json_schema()

    def parse(self, text: str) -> dict[str, Any]:
        return self._model.model_validate_json(text).model_dump()

    def units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        if self._opts.mode == "taxonomy":
            return self._taxonomy_units(items)
        return self._injection_units(items)

    def _taxonomy_units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        opts = self._opts
        seen = False
        for item in items:
            seen = True
            yield from self._category_units(item, source_text(self, item, opts.field, "field"))
        if not seen:
            yield from self._category_units(_NO_SOURCE, None)

    def _category_units(self, item: SourceItem, seed: str | None) -> Iterator[Unit]:
        opts = self._opts
        for category in opts.taxonomy:
            for index in range(opts.per_category):
                request = self.request(
                    seed_offset=index,
                    mode="taxonomy",
                    category=category.name,
                    description=category.description,
                    domain=opts.domain,
                    seed=seed,
                )
                yield Unit(
                    key=self.key(item, [request], category.name, index),
                    requests=(request,),
                    fields={"category": category.name},
                    parent=None if item is _NO_SOURCE else item.id,
                )

    def _injection_units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        opts = self._opts
        seen = False
        for item in items:
            seen = True
            original = source_text(self, item, opts.field, "field")
            for style in opts.injection_styles:
                request = self.request(
                    mode="injection", style=style, original=original, domain=opts.domain
                )
                yield Unit(
                    key=self.key(item, [request], style),
                    requests=(request,),
                    fields={"original": original, "style": style},
                    parent=item.id,
                )
        if not seen:
            raise SynthloopError(
                "task 'edge_cases' in injection mode rewrites seed prompts, and the source is "
                "empty; give the recipe a source of prompts, or use `mode: taxonomy`"
            )

    def build(self, unit: Unit, outputs: Sequence[Output]) -> dict[str, Any]:
        value = outputs[0].value or {}
        if self._opts.mode == "taxonomy":
            return {"prompt": value["prompt"], "expected_behaviour": value["expected_behaviour"]}
        return {"prompt": value["prompt"]}

    def settings(self) -> dict[str, Any]:
        prompt = {"name": "prompt", "type": "text", "required": False}
        if self._opts.mode == "taxonomy":
            fields: list[dict[str, Any]] = [
                prompt,
                {"name": "category", "type": "text"},
                {"name": "expected_behaviour", "type": "text", "required": False},
            ]
            fit = "Does the prompt belong to its category, and is the expected behaviour right?"
        else:
            fields = [
                prompt,
                {"name": "original", "type": "text"},
                {"name": "style", "type": "text"},
            ]
            fit = "Is this a realistic injection attempt in its style?"
        return {
            "fields": fields,
            "questions": [
                {"name": "valid", "type": "label", "labels": ["yes", "no"], "description": fit},
                {"name": "quality", "type": "rating", "values": [1, 2, 3, 4, 5]},
                {
                    "name": "prompt_correction",
                    "type": "text",
                    "prefill": "prompt",
                    "required": False,
                },
            ],
        }
