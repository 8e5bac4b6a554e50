"""Curation decisions into the store, in one transaction.

A rejected record: status `rejected`, the reason, and `metadata.curation` = {"step", "reason",
"details"}. A redacted record: its text fields rewritten (a chat field message by message) and
the redaction noted. A kept record with notes: `metadata.curation.<step>` = the note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, select, update

from synthloop.curate.base import Rejection, StepResult
from synthloop.records import content_hash
from synthloop.settings import ChatField
from synthloop.store import tables as t
from synthloop.store.dataset import Dataset, _column

__all__ = ["Decisions", "write_decisions"]

_CHUNK = 500


@dataclass
class Decisions:
    """Everything the steps decided, by record id: the first rejection wins (a record a step
    rejected is not seen by the later ones)."""

    rejected: dict[int, Rejection] = field(default_factory=dict)
    rejected_by: dict[int, str] = field(default_factory=dict)
    redacted: dict[int, dict[str, str]] = field(default_factory=dict)
    notes: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, step: str, result: StepResult) -> None:
        for rid, rejection in result.rejected.items():
            self.rejected.setdefault(rid, rejection)
            self.rejected_by.setdefault(rid, step)
        for rid, texts in result.redacted.items():
            self.redacted.setdefault(rid, {}).update(texts)
        for rid, note in result.notes.items():
            self.notes.setdefault(rid, {})[step] = note

    def touched(self) -> list[int]:
        return sorted(set(self.rejected) | set(self.redacted) | set(self.notes))


def write_decisions(dataset: Dataset, decisions: Decisions) -> int:
    """Apply `decisions`; returns how many records changed."""
    ids = decisions.touched()
    if not ids:
        return 0
    chats = {f.name for f in dataset.settings.fields if isinstance(f, ChatField)}
    c = t.records.c
    query = (
        update(t.records)
        .where(c.id == bindparam("rid"))
        .values(
            fields=bindparam("new_fields", type_=t.Json),
            metadata=bindparam("new_metadata", type_=t.Json),
            content_hash=bindparam("new_hash"),
            status=bindparam("new_status"),
            reason=bindparam("new_reason"),
            updated_at=func.now(),
        )
    )
    with dataset.engine.begin() as conn:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            read = select(c.id, _column("fields"), _column("metadata"), c.status, c.reason)
            rows = conn.execute(read.where(c.id.in_(chunk))).all()
            params = [_change(row, decisions, chats) for row in rows]
            if params:
                conn.execute(query, params)
    return len(ids)


def _change(row: Any, decisions: Decisions, chats: set[str]) -> dict[str, Any]:
    rid, fields, metadata, status, reason = row
    fields, metadata = dict(fields), dict(metadata or {})
    curation = dict(metadata.get("curation") or {})
    curation.update(decisions.notes.get(rid, {}))
    texts = decisions.redacted.get(rid)
    if texts:
        for name, text in texts.items():
            fields[name] = _unflatten(fields[name], text) if name in chats else text
        curation["redacted"] = sorted(texts)
    rejection = decisions.rejected.get(rid)
    if rejection is not None:
        status, reason = "rejected", rejection.reason
        curation.update(
            step=decisions.rejected_by[rid],
            reason=rejection.reason,
            details=dict(rejection.details),
        )
    metadata["curation"] = curation
    return {
        "rid": rid,
        "new_fields": fields,
        "new_metadata": metadata,
        "new_hash": content_hash(fields),
        "new_status": status,
        "new_reason": reason,
    }


def _unflatten(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """A chat field from its redacted "role: content" lines. Redaction replaces spans within a
    line, so message i still spans as many lines as its content had."""
    lines = text.split("\n")
    out, at = [], 0
    for message in messages:
        count = 1 + str(message.get("content", "")).count("\n")
        chunk = "\n".join(lines[at : at + count])
        at += count
        prefix = f"{message.get('role', '')}: "
        content = chunk[len(prefix) :] if chunk.startswith(prefix) else chunk
        out.append({**message, "content": content})
    return out
