"""The one record type every stage reads and writes, and the rules a record row must follow."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "RESPONSE_STATUSES",
    "SOURCES",
    "STATUSES",
    "Record",
    "Response",
    "Suggestion",
    "content_hash",
]

# The record lifecycle (DESIGN.md): pending -> rejected | accepted | queued -> annotated ->
# disputed -> accepted; failed marks a generation that produced nothing usable.
STATUSES = ("pending", "rejected", "accepted", "queued", "annotated", "disputed", "failed")
# A rejected or failed record must say why: nothing is dropped without a reason.
STATUSES_NEEDING_REASON = frozenset({"rejected", "failed"})
SOURCES = ("synthetic", "human", "imported")
RESPONSE_STATUSES = ("draft", "submitted", "discarded")


@dataclass
class Suggestion:
    """A machine's answer to one question: the value, its confidence and who gave it."""

    value: Any
    score: float | None = None
    agent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "score": self.score, "agent": self.agent}


@dataclass
class Response:
    """One annotator's answers to the questions of one record."""

    user: str
    values: dict[str, Any]
    status: str = "submitted"
    duration: float | None = None  # seconds spent

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "values": self.values,
            "status": self.status,
            "duration": self.duration,
        }


@dataclass
class Record:
    """A record of a dataset.

    `external_id` is the id the outside world knows (the `id` key of an imported or exported row);
    a record imported without one gets its content hash. `id` is the store's own key, set once the
    record is stored.
    """

    fields: dict[str, Any]
    external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"
    reason: str | None = None
    priority: float = 0.0
    suggestions: dict[str, Suggestion] = field(default_factory=dict)
    responses: list[Response] = field(default_factory=list)
    final: dict[str, Any] | None = None
    id: int | None = None

    @property
    def source(self) -> str:
        return str(self.provenance.get("source", "imported"))

    def content_hash(self) -> str:
        return content_hash(self.fields)

    def to_dict(self) -> dict[str, Any]:
        """The nested row shape that import reads back unchanged."""
        return {
            "id": self.external_id,
            "fields": self.fields,
            "metadata": self.metadata,
            "provenance": self.provenance,
            "status": self.status,
            "reason": self.reason,
            "priority": self.priority,
            "suggestions": {q: s.to_dict() for q, s in self.suggestions.items()},
            "responses": [r.to_dict() for r in self.responses],
            "final": self.final,
        }


def content_hash(fields: dict[str, Any]) -> str:
    """A stable hash of a record's fields: the identity of a record imported without an id."""
    return hashlib.blake2b(
        orjson.dumps(fields, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()
