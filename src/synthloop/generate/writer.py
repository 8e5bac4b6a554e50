"""Finished units into the store: records (or suggestions) and the cache entries of their
answers, a batch per transaction.

A unit's record id is its key, so a batch that repeats a stored record adds nothing. A record
that fails the dataset's rules (a task built a field of the wrong type) is stored as `failed`
with the problems instead, so the run goes on and nothing is lost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from synthloop.generate.cache import RequestCache
from synthloop.generate.llm.base import Completion
from synthloop.generate.recipe import Recipe
from synthloop.generate.setup import Plan
from synthloop.generate.tasks.base import Output, Unit
from synthloop.records import Record, content_hash
from synthloop.rows import RowParser
from synthloop.store import tables as t
from synthloop.store.ingest import ingest
from synthloop.store.store import Store

__all__ = ["Finished", "Writer"]


@dataclass(slots=True)
class Finished:
    """A unit's outcome: `fields` built from its answers, or `reason` (and `detail`, `raw`)."""

    unit: Unit
    fields: dict[str, Any] | None = None
    reason: str | None = None
    detail: str = ""
    raw: str | None = None
    outputs: list[Output] = field(default_factory=list)
    attempts: int = 0
    reasks: int = 0
    cached: int = 0  # answers read from the cache
    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str | None = None

    def add(self, completion: Completion, cost: float, cached: bool) -> None:
        self.cost += cost
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.cached += cached
        self.model = self.model or completion.model


class Writer:
    def __init__(self, store: Store, plan: Plan, recipe: Recipe, cache: RequestCache) -> None:
        assert plan.dataset is not None
        self.engine, self.dataset, self.cache = store.engine, plan.dataset, cache
        self.task, self.replace = plan.task, plan.replace
        self.parser = RowParser(self.dataset.settings)
        self.agent = f"{plan.task.name}:{plan.task.model}"
        self.base = {
            "source": "synthetic",
            "generator": "llm",
            "task": plan.task.name,
            "template": plan.task.prompt.label,
            "backend": plan.backend.backend_type,
            "model": plan.backend.model,
            "params": plan.task.params.to_body(),
            "recipe_seed": recipe.seed,
            "round": recipe.round,
        }

    async def write(self, batch: list[Finished]) -> None:
        """Store a batch and the cache entries staged so far, in one transaction (in a thread,
        so requests keep flowing meanwhile)."""
        await asyncio.to_thread(self._write, *self._prepare(batch))

    def write_now(self, batch: list[Finished]) -> None:
        """`write`, for a caller off the event loop (a distributed run's one writer)."""
        self._write(*self._prepare(batch))

    def _prepare(self, batch: list[Finished]) -> tuple[list[Row], list[_Note], list[_Cached]]:
        """The batch's rows (or suggestion notes) and the staged cache entries, taken now: on
        the event loop, while staging goes on, before the write moves to a thread."""
        if self.task.kind == "suggestions":
            rows: list[Row] = []
            notes = [(f.unit.key, self._suggestions(f), self._note(f)) for f in batch]
        else:
            rows, notes = [self._row(f) for f in batch], []
        return rows, notes, self.cache.take()

    def _write(self, rows: list[Row], notes: list[_Note], cached: list[_Cached]) -> None:
        fresh = [r for r in rows if _key(r) not in self.replace]
        again = [_as_dict(r) for r in rows if _key(r) in self.replace]
        with self.engine.begin() as conn:
            self.cache.write(conn, cached)
            if fresh:
                pairs = ((f"unit {_key(r)}", r) for r in fresh)
                ingest(conn, self.dataset.id, pairs, self.parser, source="generate")
            if again:
                self._replace(conn, again)
            if notes:
                self._annotate(conn, notes)
        self.replace.difference_update(r["id"] for r in again)

    # ------------------------------------------------------------ records

    def _row(self, done: Finished) -> Row:
        """The unit's record, parsed here once (ingest takes a Record as it is); a row dict only
        when even the failed record does not fit the dataset, for ingest to report."""
        unit = done.unit
        prov = {**self.base, **_usage(done), "parent": unit.parent}
        if done.reason is None and done.fields is not None:
            row = {
                "id": unit.key,
                "fields": {**unit.fields, **done.fields},
                "provenance": prov,
                "status": "pending",
            }
            record, problems = self.parser.parse(row)
            if record is not None:
                return record
            done.reason, done.detail = "invalid_record", "; ".join(problems)[:1000]
        prov["error"] = done.detail
        if done.raw is not None:
            prov["raw"] = done.raw
        if done.outputs:  # answers that came before the one that failed
            prov["answers"] = [o.completion.text for o in done.outputs]
        failed = {
            "id": unit.key,
            "fields": dict(unit.fields),
            "provenance": prov,
            "status": "failed",
            "reason": done.reason,
        }
        record, _problems = self.parser.parse(failed)
        return record if record is not None else failed

    def _replace(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """A failed record answered now: the same record, with the new outcome."""
        c = t.records.c
        query = (
            update(t.records)
            .where(c.dataset_id == self.dataset.id, c.external_id == bindparam("key"))
            .values(
                fields=bindparam("new_fields", type_=t.Json),
                provenance=bindparam("new_provenance", type_=t.Json),
                content_hash=bindparam("new_hash"),
                status=bindparam("new_status"),
                reason=bindparam("new_reason"),
                updated_at=func.now(),
            )
        )
        conn.execute(
            query,
            [
                {
                    "key": r["id"],
                    "new_fields": r["fields"],
                    "new_provenance": r["provenance"],
                    "new_hash": content_hash(r["fields"]),
                    "new_status": r["status"],
                    "new_reason": r.get("reason"),
                }
                for r in rows
            ],
        )

    # ------------------------------------------------------------ suggestions

    def _suggestions(self, done: Finished) -> dict[str, Any]:
        if done.reason is not None or not done.fields:
            return {}
        questions = {q.name for q in self.dataset.settings.questions}
        return {name: s for name, s in done.fields.items() if name in questions}

    def _note(self, done: Finished) -> dict[str, Any] | None:
        """What the record's metadata keeps of this run: rationales, or why it failed."""
        entry: dict[str, Any] = {"agent": self.agent, **_usage(done)}
        if done.reason is not None:
            entry.update(failed=done.reason, error=done.detail, raw=done.raw)
        elif done.fields:
            rationales = {
                k: v.get("rationale") for k, v in done.fields.items() if v.get("rationale")
            }
            if rationales:
                entry["rationale"] = rationales
        return entry

    def _annotate(self, conn: Connection, notes: list[_Note]) -> None:
        r, s = t.records.c, t.suggestions.c
        keys = [key for key, _, _ in notes]
        found = {
            key: (rid, meta)
            for key, rid, meta in conn.execute(
                select(r.external_id, r.id, r.metadata).where(
                    r.dataset_id == self.dataset.id, r.external_id.in_(keys)
                )
            )
        }
        new: list[dict[str, Any]] = []
        for key, suggestions, note in notes:
            if key not in found:
                continue
            record_id, metadata = found[key]
            if suggestions:
                conn.execute(
                    delete(t.suggestions).where(
                        s.record_id == record_id, s.question.in_(list(suggestions))
                    )
                )
                new += [
                    {
                        "record_id": record_id,
                        "question": name,
                        "value": sug["value"],
                        "score": sug.get("score"),
                        "agent": self.agent,
                    }
                    for name, sug in suggestions.items()
                ]
            if note is not None:
                metadata = dict(metadata or {})
                metadata.setdefault("generation", {})[self.task.name] = note
                conn.execute(update(t.records).where(r.id == record_id).values(metadata=metadata))
        if new:
            conn.execute(insert(t.suggestions), new)


Row = Record | dict[str, Any]
_Note = tuple[str, dict[str, Any], dict[str, Any] | None]  # (record key, suggestions, note)
_Cached = dict[str, str]  # a cache row


def _key(row: Row) -> str:
    return str(row.external_id if isinstance(row, Record) else row["id"])


def _as_dict(row: Row) -> dict[str, Any]:
    return row.to_dict() if isinstance(row, Record) else row


def _usage(done: Finished) -> dict[str, Any]:
    return {
        "cost": round(done.cost, 8),
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "attempts": done.attempts,
        "reasks": done.reasks,
        "cached": done.cached,
        **({"answered_by": done.model} if done.model else {}),
    }
