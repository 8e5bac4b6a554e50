"""What the API reads and writes: request bodies as pydantic models, replies as plain dicts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synthloop.records import Record, Response
from synthloop.store.dataset import Dataset

__all__ = [
    "DatasetIn",
    "ExportFormat",
    "QueueIn",
    "ResponseIn",
    "Source",
    "Status",
    "dataset_out",
    "record_out",
    "record_row",
    "response_out",
]

# The library's choices, spelled out so the OpenAPI schema lists them and a wrong value is a 422
# naming them (a test keeps each equal to the library's tuple).
Status = Literal["pending", "rejected", "accepted", "queued", "annotated", "disputed", "failed"]
Source = Literal["synthetic", "human", "imported"]
ExportFormat = Literal["jsonl", "parquet"]


class QueueIn(BaseModel):
    """Which records to queue for annotation."""

    model_config = ConfigDict(extra="forbid")

    status: Status = "pending"
    limit: int | None = Field(default=None, ge=0, description="Highest priority first.")


class DatasetIn(BaseModel):
    """A new dataset: its name and its settings (the mapping a settings YAML file holds)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    settings: dict[str, Any]


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


def record_row(record: Record) -> dict[str, Any]:
    """Everything a record holds, in the export shape, under the API's names: `id` is the
    store id (what submit takes), `external_id` the row's own `id`."""
    row = record.to_dict()
    return {"id": record.id, "external_id": row.pop("id"), **row}


def dataset_out(dataset: Dataset, with_settings: bool = False) -> dict[str, Any]:
    """A dataset's name and record counts (total and by status), and its settings if asked."""
    by_status: dict[str, int] = dataset.count(by="status")
    out: dict[str, Any] = {
        "name": dataset.name,
        "records": sum(by_status.values()),
        "by_status": by_status,
    }
    if with_settings:
        out["settings"] = dataset.settings.to_dict()
    return out
