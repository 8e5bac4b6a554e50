"""`translate`: each source text into each target language, for multilingual SFT data.

The answer is free text, not JSON: a translation wrapped in JSON escapes is harder for a model
to get right and gains nothing. One record per (text, language) keeps a language's review and
export separate from the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import Field, field_validator

from synthloop.generate.tasks.base import (
    Output,
    SourceItem,
    Task,
    TaskOptions,
    Unit,
    register_task,
)
from synthloop.generate.tasks.library._common import source_text, task_options

__all__ = ["Translate", "TranslateOptions"]


class TranslateOptions(TaskOptions):
    languages: list[str] = Field(
        min_length=1, description='target languages, e.g. ["de", "fr"] (required)'
    )
    field: str = Field("text", description="the source field holding the text to translate")

    @field_validator("languages")
    @classmethod
    def _languages(cls, languages: list[str]) -> list[str]:
        cleaned = [language.strip() for language in languages]
        if any(not language for language in cleaned):
            raise ValueError("languages must not be empty strings; write a code such as 'de'")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError(f"languages {cleaned} repeat a language; list each once")
        return cleaned


@register_task
class Translate(Task):
    name = "translate"
    template = "translate"
    options = TranslateOptions

    @property
    def _opts(self) -> TranslateOptions:
        return task_options(self, TranslateOptions)

    def units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        opts = self._opts
        for item in items:
            text = source_text(self, item, opts.field, "field")
            for language in opts.languages:
                request = self.request(text=text, language=language)
                yield Unit(
                    key=self.key(item, [request], language),
                    requests=(request,),
                    fields={"source_text": text, "language": language},
                    parent=item.id,
                )

    def build(self, unit: Unit, outputs: Sequence[Output]) -> dict[str, Any]:
        return {"translation": outputs[0].completion.text.strip()}

    def settings(self) -> dict[str, Any]:
        return {
            "fields": [
                {"name": "source_text", "type": "text"},
                {"name": "translation", "type": "text", "required": False},
                {"name": "language", "type": "text"},
            ],
            "questions": [
                {
                    "name": "adequacy",
                    "type": "rating",
                    "values": [1, 2, 3, 4, 5],
                    "description": "How much of the source's meaning does the translation keep?",
                },
                {
                    "name": "fluency",
                    "type": "rating",
                    "values": [1, 2, 3, 4, 5],
                    "description": "How natural does the translation read to a native speaker?",
                },
                {
                    "name": "translation_correction",
                    "type": "text",
                    "prefill": "translation",
                    "required": False,
                },
            ],
        }
