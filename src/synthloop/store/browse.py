"""Finding records for people: filters and full-text search, keyset pages, the review order, and
when answers came in.

The records browser and the review and dashboard pages read through here; `Dataset.records`
stays the fast path for stages that walk a whole dataset. Every filter runs in the database, on
SQLite and on PostgreSQL alike:

- `text` matches any string inside the fields (chat messages and JSON fields included),
  case-insensitively (on SQLite only ASCII letters fold case);
- `label` matches a record whose final value or a suggestion's value for a label or multi-label
  question is (or, for a multi-label, contains) the label;
- `metadata` pairs match a top-level metadata key whose value, written as text, is the value
  ("3", "true", "chat");
- `reason` matches a substring of the reason, case-insensitively.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Engine,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)

from synthloop.errors import SynthloopError
from synthloop.records import SOURCES, STATUSES, Record
from synthloop.store import tables as t
from synthloop.store.dataset import Dataset

__all__ = [
    "LABEL_TYPES",
    "RecordFilter",
    "RecordPage",
    "browse",
    "count",
    "first_submission",
    "response_times",
    "review_neighbours",
    "review_page",
    "submissions_by_time",
    "submitted_count",
]

LABEL_TYPES = ("label", "multi_label")
REVIEW_STATUS = "disputed"


@dataclass(frozen=True)
class RecordFilter:
    """Which records to show; empty parts match everything."""

    status: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    reason: str = ""
    label: str = ""
    question: str = ""  # restricts `label` to one question; "" means any label question
    metadata: tuple[tuple[str, str], ...] = ()
    text: str = ""

    def check(self, dataset: Dataset) -> None:
        """SynthloopError naming each value that can never match, and what would."""
        problems = [
            f"status {s!r} is not one of {', '.join(STATUSES)}"
            for s in self.status
            if s not in STATUSES
        ]
        problems += [
            f"source {s!r} is not one of {', '.join(SOURCES)}"
            for s in self.source
            if s not in SOURCES
        ]
        names = _label_questions(dataset)
        if self.question and self.question not in names:
            problems.append(
                f"question {self.question!r} is not a label question of dataset "
                f"{dataset.name!r} (label questions: {', '.join(names) or 'none'})"
            )
        if problems:
            raise SynthloopError("; ".join(problems))


@dataclass
class RecordPage:
    """One page of records by ascending store id, and the ids to ask for the pages around it."""

    records: list[Record] = field(default_factory=list)
    next_after: int | None = None  # pass as `after` for the next page; None: this is the last
    previous_before: int | None = None  # pass as `before` for the page before; None: first


def browse(
    dataset: Dataset,
    where: RecordFilter | None = None,
    after: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> RecordPage:
    """A page of at most `limit` matching records: those after store id `after`, else those just
    before `before`, else the first ones. Records come whole (responses and suggestions too)."""
    where = where or RecordFilter()
    where.check(dataset)
    backwards = before is not None and after is None
    query = select(t.records.c.id).where(_matches(dataset, where))
    if backwards:
        query = query.where(t.records.c.id < before).order_by(t.records.c.id.desc())
    else:
        query = query.where(t.records.c.id > (after or 0)).order_by(t.records.c.id)
    with dataset.engine.connect() as conn:
        found = list(conn.execute(query.limit(limit + 1)).scalars())
    ids = sorted(found[:limit])
    page = RecordPage(dataset.records_by_id(ids))
    if not ids:
        return page
    more = len(found) > limit  # beyond the page, in the direction read
    if backwards:
        page.previous_before = ids[0] if more else None
        page.next_after = ids[-1] if _any_beyond(dataset, where, ids[-1], 1) else None
    else:
        page.next_after = ids[-1] if more else None
        first = after is None or not _any_beyond(dataset, where, ids[0], -1)
        page.previous_before = None if first else ids[0]
    return page


def _any_beyond(dataset: Dataset, where: RecordFilter, record_id: int, direction: int) -> bool:
    """Whether a matching record lies after (direction 1) or before (-1) `record_id`."""
    id = t.records.c.id
    query = select(id).where(
        _matches(dataset, where), id > record_id if direction > 0 else id < record_id
    )
    with dataset.engine.connect() as conn:
        return conn.execute(query.limit(1)).first() is not None


def count(dataset: Dataset, where: RecordFilter | None = None) -> int:
    """How many records match."""
    where = where or RecordFilter()
    where.check(dataset)
    query = select(func.count()).select_from(t.records).where(_matches(dataset, where))
    with dataset.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


# ---------------------------------------------------------------- filters


def _matches(dataset: Dataset, where: RecordFilter) -> Any:
    sqlite = dataset.engine.dialect.name == "sqlite"
    tests: list[Any] = [t.records.c.dataset_id == dataset.id]
    if where.status:
        tests.append(t.records.c.status.in_(where.status))
    if where.source:
        tests.append(t.records.c.source.in_(where.source))
    if where.reason:
        tests.append(t.records.c.reason.icontains(where.reason, autoescape=True))
    if where.label:
        names = [where.question] if where.question else _label_questions(dataset)
        tests.append(_has_label(names, where.label, sqlite))
    tests += [_has_metadata(key, value, sqlite) for key, value in where.metadata]
    if where.text:
        tests.append(_has_text(where.text, sqlite))
    return and_(*tests)


def _label_questions(dataset: Dataset) -> list[str]:
    return [q.name for q in dataset.settings.questions if q.type in LABEL_TYPES]


def _has_label(questions: Sequence[str], label: str, sqlite: bool) -> Any:
    if not questions:
        return literal(False)
    return _has_label_sqlite(questions, label) if sqlite else _has_label_pg(questions, label)


def _has_label_sqlite(questions: Sequence[str], label: str) -> Any:
    # json_each over a string yields the string itself, over an array its items: one test serves
    # label and multi_label answers alike.
    tests: list[Any] = []
    for q in questions:
        items = func.json_each(t.records.c.final, _json_path(q)).table_valued("value")
        tests.append(exists(select(1).select_from(items).where(items.c.value == label)))
    items = func.json_each(t.suggestions.c.value).table_valued("value")
    suggested = exists(
        select(1)
        .select_from(t.suggestions.join(items, true()))
        .where(
            t.suggestions.c.record_id == t.records.c.id,
            t.suggestions.c.question.in_(questions),
            items.c.value == label,
        )
    )
    return or_(*tests, suggested)


def _has_label_pg(questions: Sequence[str], label: str) -> Any:
    # jsonb containment: '"a"' @> '"a"' and '["a", "b"]' @> '"a"' are both true.
    wanted = func.to_jsonb(cast(literal(label), String))
    tests: list[Any] = [t.records.c.final[q].op("@>")(wanted) for q in questions]
    suggested = exists(
        select(1).where(
            t.suggestions.c.record_id == t.records.c.id,
            t.suggestions.c.question.in_(questions),
            t.suggestions.c.value.op("@>")(wanted),
        )
    )
    return or_(*tests, suggested)


def _json_path(key: str) -> str:
    """A SQLite JSON path to a top-level key, whatever characters it holds."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _has_metadata(key: str, value: str, sqlite: bool) -> Any:
    if not sqlite:
        return t.records.c.metadata.op("->>")(literal(key, String)) == value
    entries = func.json_each(t.records.c.metadata).table_valued("key", "atom", "type")
    # Booleans read back as 1/0 from SQLite's JSON functions; spell them as JSON does.
    as_text = case(
        (entries.c.type == "true", "true"),
        (entries.c.type == "false", "false"),
        else_=cast(entries.c.atom, String),
    )
    return exists(select(1).select_from(entries).where(entries.c.key == key, as_text == value))


def _has_text(text: str, sqlite: bool) -> Any:
    """Any string value inside the fields contains `text`, case-insensitively."""
    if sqlite:
        strings = func.json_tree(t.records.c.fields).table_valued("type", "atom")
        return exists(
            select(1)
            .select_from(strings)
            .where(strings.c.type == "text", strings.c.atom.icontains(text, autoescape=True))
        )
    strings = (
        func.jsonb_path_query(t.records.c.fields, literal_column("'strict $.**'"))
        .table_valued("value")
        .render_derived()
    )
    value = strings.c.value
    return exists(
        select(1)
        .select_from(strings)
        .where(
            func.jsonb_typeof(value) == "string",
            value.op("#>>")(literal_column("'{}'")).icontains(text, autoescape=True),
        )
    )


# ---------------------------------------------------------------- the review order


def review_page(dataset: Dataset, after: int | None = None, limit: int = 50) -> RecordPage:
    """Disputed records, highest priority first, then newest (highest id) first; `after` is the
    store id of the last record of the page before."""
    query = _review_order(select(t.records.c.id), dataset)
    if after is not None:
        query = query.where(_past(dataset, after))
    with dataset.engine.connect() as conn:
        ids = list(conn.execute(query.limit(limit + 1)).scalars())
    more = len(ids) > limit
    ids = ids[:limit]
    by_id = {r.id: r for r in dataset.records_by_id(ids)}
    return RecordPage([by_id[i] for i in ids if i in by_id], ids[-1] if more else None)


def review_neighbours(dataset: Dataset, record_id: int) -> tuple[int | None, int | None]:
    """The disputed records just before and just after `record_id` in the review order (the
    record itself need not be disputed any more: after saving, the next one is still found)."""
    following = _review_order(select(t.records.c.id), dataset).where(_past(dataset, record_id))
    preceding = _review_order(select(t.records.c.id), dataset, reverse=True).where(
        _past(dataset, record_id, reverse=True)
    )
    with dataset.engine.connect() as conn:
        after = conn.execute(following.limit(1)).scalar()
        before = conn.execute(preceding.limit(1)).scalar()
    return before, after


def _review_order(query: Any, dataset: Dataset, reverse: bool = False) -> Any:
    priority, id = t.records.c.priority, t.records.c.id
    order = (priority.asc(), id.asc()) if reverse else (priority.desc(), id.desc())
    return query.where(
        t.records.c.dataset_id == dataset.id, t.records.c.status == REVIEW_STATUS
    ).order_by(*order)


def _past(dataset: Dataset, record_id: int, reverse: bool = False) -> Any:
    """Records after `record_id` in the review order (before it, when `reverse`)."""
    mine = (
        select(t.records.c.priority)
        .where(t.records.c.id == record_id, t.records.c.dataset_id == dataset.id)
        .scalar_subquery()
    )
    priority, id = t.records.c.priority, t.records.c.id
    if reverse:
        return or_(priority > mine, and_(priority == mine, id > record_id))
    return or_(priority < mine, and_(priority == mine, id < record_id))


# ---------------------------------------------------------------- when answers came


def response_times(dataset: Dataset, record_id: int) -> dict[str, datetime]:
    """When each user last saved their response to the record (UTC), by username."""
    query = (
        select(t.users.c.username, t.responses.c.updated_at)
        .join(t.users, t.users.c.id == t.responses.c.user_id)
        .join(t.records, t.records.c.id == t.responses.c.record_id)
        .where(t.responses.c.record_id == record_id, t.records.c.dataset_id == dataset.id)
    )
    with dataset.engine.connect() as conn:
        return {name: _utc(at) for name, at in conn.execute(query)}


def submitted_count(dataset: Dataset) -> int:
    """How many submitted responses the dataset's records hold."""
    query = (
        select(func.count())
        .select_from(t.responses.join(t.records, t.records.c.id == t.responses.c.record_id))
        .where(t.records.c.dataset_id == dataset.id, t.responses.c.status == "submitted")
    )
    with dataset.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def submissions_by_time(
    dataset: Dataset, unit: str = "hour", since: datetime | None = None
) -> dict[datetime, int]:
    """Submitted responses per hour or day (by when each was last saved, UTC), from `since`
    on (default: the start of the store); only buckets with submissions appear."""
    if unit not in ("hour", "day"):
        raise SynthloopError(f"unit {unit!r} is not 'hour' or 'day'")
    bucket = _bucket(dataset.engine, unit).label("bucket")
    query = (
        select(bucket, func.count())
        .select_from(t.responses.join(t.records, t.records.c.id == t.responses.c.record_id))
        .where(t.records.c.dataset_id == dataset.id, t.responses.c.status == "submitted")
        .group_by(bucket)
    )
    if since is not None:
        query = query.where(t.responses.c.updated_at >= _bound_time(dataset.engine, since))
    shape = "%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d"
    with dataset.engine.connect() as conn:
        return {
            datetime.strptime(key, shape).replace(tzinfo=UTC): int(n)
            for key, n in conn.execute(query)
        }


def first_submission(dataset: Dataset) -> datetime | None:
    """When the earliest submitted response still standing was saved (UTC); None: none yet."""
    query = (
        select(func.min(t.responses.c.updated_at))
        .join(t.records, t.records.c.id == t.responses.c.record_id)
        .where(t.records.c.dataset_id == dataset.id, t.responses.c.status == "submitted")
    )
    with dataset.engine.connect() as conn:
        found = conn.execute(query).scalar()
    return None if found is None else _utc(found)


def _bucket(engine: Engine, unit: str) -> Any:
    at = t.responses.c.updated_at
    if engine.dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d", at)
    utc = at.op("AT TIME ZONE")(literal("UTC"))
    return func.to_char(utc, "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD")


def _utc(at: datetime) -> datetime:
    """SQLite hands back naive datetimes (written as UTC); PostgreSQL aware ones."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _bound_time(engine: Engine, at: datetime) -> datetime:
    """`at` as the database compares it: SQLite keeps naive UTC text; PostgreSQL compares
    aware times exactly (a naive one would be read in the session's time zone)."""
    aware = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.replace(tzinfo=None) if engine.dialect.name == "sqlite" else aware
