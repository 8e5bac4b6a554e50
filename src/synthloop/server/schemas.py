"""What the API reads and writes: request bodies as pydantic models, replies as plain dicts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synthloop.records import Record, Response
from synthloop.store.dataset import Dataset

__all__ = ["ResponseIn", "record_out", "response_out"]


class ResponseIn(BaseModel):
    """An annotator's answers to one record."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any]
    status: Literal["submitted", "draft", "discarded"] = "submitted"
    duration: float | None = Field(default=None, ge=0, description="Seconds spent.")


def record_out(dataset: Dataset, record: Record) -> dict[str, Any]:
    """A leased record with what the annotator needs to answer it."""
    settings = dataset.settings.to_dict()
    return {
        "id": record.id,
        "external_id": record.external_id,
        "dataset": dataset.name,
        "fields": record.fields,
        "suggestions": {q: s.to_dict() for q, s in record.suggestions.items()},
        "responses": [r.to_dict() for r in record.responses],
        "questions": settings["questions"],
        "guidelines": settings.get("guidelines", ""),
    }


def response_out(record_id: int, external_id: str | None, response: Response) -> dict[str, Any]:
    return {"record_id": record_id, "external_id": external_id, **response.to_dict()}
