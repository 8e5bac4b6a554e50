"""`qa_from_documents`: question-answer pairs grounded in documents, for RAG and SFT data.

Each document (from `documents.read_folder`, or any source whose items hold text) is cut into
chunks; each chunk gets `pairs_per_chunk` units, told apart by their seeds. A record keeps the
chunk as `context`, so an annotator can check the answer against what the model saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel, Field, model_validator

from synthloop.generate.tasks.base import (
    Output,
    SourceItem,
    Task,
    TaskOptions,
    Unit,
    register_task,
)
from synthloop.generate.tasks.documents import chunks
from synthloop.generate.tasks.library._common import source_text, task_options

__all__ = ["QAFromDocuments", "QAFromDocumentsOptions", "QAPair"]


class QAFromDocumentsOptions(TaskOptions):
    chunk_chars: int = Field(1500, ge=100, description="largest chunk, in characters")
    overlap: int = Field(200, ge=0, description="characters a chunk repeats from the one before")
    pairs_per_chunk: int = Field(1, ge=1, le=20, description="question-answer pairs per chunk")
    field: str = Field("text", description="the source field holding the document's text")

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> QAFromDocumentsOptions:
        if self.overlap >= self.chunk_chars:
            raise ValueError(
                f"overlap {self.overlap} must be smaller than chunk_chars {self.chunk_chars}"
            )
        return self


class QAPair(BaseModel):
    question: str
    answer: str


@register_task
class QAFromDocuments(Task):
    name = "qa_from_documents"
    template = "qa_from_documents"
    options = QAFromDocumentsOptions
    output = QAPair

    @property
    def _opts(self) -> QAFromDocumentsOptions:
        return task_options(self, QAFromDocumentsOptions)

    def units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        opts = self._opts
        for item in items:
            text = source_text(self, item, opts.field, "field")
            document = str(item.fields.get("path", item.id))
            for index, chunk in enumerate(chunks(text, opts.chunk_chars, opts.overlap)):
                for pair in range(opts.pairs_per_chunk):
                    request = self.request(seed_offset=pair, chunk=chunk, document=document)
                    yield Unit(
                        key=self.key(item, [request], index, pair),
                        requests=(request,),
                        fields={"context": chunk, "document": document},
                        parent=f"{item.id}#{index}",
                    )

    def build(self, unit: Unit, outputs: Sequence[Output]) -> dict[str, Any]:
        value = outputs[0].value or {}
        return {"question": value["question"], "answer": value["answer"]}

    def settings(self) -> dict[str, Any]:
        return {
            "fields": [
                {"name": "context", "type": "text"},
                {"name": "question", "type": "text", "required": False},
                {"name": "answer", "type": "text", "required": False},
                {"name": "document", "type": "text"},
            ],
            "questions": [
                {
                    "name": "grounded",
                    "type": "label",
                    "labels": ["yes", "partly", "no"],
                    "description": "Is the answer correct and supported by the context alone?",
                },
                {"name": "quality", "type": "rating", "values": [1, 2, 3, 4, 5]},
                {
                    "name": "answer_correction",
                    "type": "text",
                    "prefill": "answer",
                    "required": False,
                },
            ],
        }
