"""A dataset's records as `Doc`s: the text a step judges, read lean.

Only what steps need is read (id, external id, fields, the provenance's source) plus a judge's
score from the suggestions, a page at a time; the text is each text or markdown field, and each
chat field as "role: content" lines, in the dataset's field order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from sqlalchemy import Text, func, select, type_coerce

from synthloop.curate.base import Doc
from synthloop.settings import ChatField, Settings, TextField
from synthloop.store import tables as t
from synthloop.store.dataset import Dataset

__all__ = ["load_docs", "text_fields"]

_PAGE = 20_000


def text_fields(settings: Settings, only: Sequence[str] | None = None) -> list[str]:
    """The fields steps read: text, markdown and chat fields (`only` narrows them)."""
    names = [f.name for f in settings.fields if isinstance(f, TextField | ChatField)]
    return [n for n in names if n in only] if only else names


def load_docs(dataset: Dataset, statuses: Sequence[str] | None, fields: Sequence[str]) -> list[Doc]:
    """The dataset's records with these statuses (all when None) as Docs, by store id."""
    return list(_iter_docs(dataset, statuses, fields))


def _iter_docs(
    dataset: Dataset, statuses: Sequence[str] | None, fields: Sequence[str]
) -> Iterator[Doc]:
    c = t.records.c
    # `fields` as the driver returns it (JSON text on SQLite, parsed JSONB on PostgreSQL), decoded
    # here in one C call: SQLAlchemy's per-row result processing cost a fifth of a 100k read.
    raw_fields = type_coerce(c.fields, Text)
    query = select(c.id, c.external_id, raw_fields, c.source).where(c.dataset_id == dataset.id)
    if statuses:
        query = query.where(c.status.in_(list(statuses)))
    query = query.order_by(c.id)
    judged = _has_judge_scores(dataset)
    last = 0
    while True:
        with dataset.engine.connect() as conn:
            rows = conn.execute(query.where(c.id > last).limit(_PAGE)).all()
            scores = _judge_scores(conn, [r[0] for r in rows]) if rows and judged else {}
        for rid, key, values, source in rows:
            values = orjson.loads(values) if isinstance(values, str) else values
            yield Doc(
                id=rid,
                key=str(key),
                texts={name: _as_text(values.get(name)) for name in fields},
                source=source or "imported",
                score=scores.get(rid),
                dataset=dataset.name,
            )
        if len(rows) < _PAGE:
            return
        last = rows[-1][0]


def _has_judge_scores(dataset: Dataset) -> bool:
    """Whether any record of the dataset has a judge's score: most have none, and then the
    per-page score lookups are skipped."""
    r, s = t.records.c, t.suggestions.c
    query = (
        select(s.id)
        .join(t.records, r.id == s.record_id)
        .where(r.dataset_id == dataset.id, s.agent.like("judge:%"), s.score.is_not(None))
        .limit(1)
    )
    with dataset.engine.connect() as conn:
        return conn.execute(query).first() is not None


def _judge_scores(conn: Any, ids: list[int]) -> dict[int, float]:
    """The mean score of each record's judge suggestions (agent "judge:<model>")."""
    s = t.suggestions.c
    query = (
        select(s.record_id, func.avg(s.score))
        .where(s.record_id.in_(ids), s.agent.like("judge:%"), s.score.is_not(None))
        .group_by(s.record_id)
    )
    return {rid: float(score) for rid, score in conn.execute(query)}


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # a chat: one "role: content" line per message
        return "\n".join(
            f"{m.get('role', '')}: {m.get('content', '')}" for m in value if isinstance(m, dict)
        )
    return ""
