"""The work queue: records handed to annotators under leases, and their answers taken back.

A record is served while it is `queued`. An annotator holds it under a lease until the lease
expires or they submit; a record is never held (leases still running plus submitted responses)
by more annotators than `distribution.overlap`, and nobody is served a record they have answered
(any response: draft, submitted or discarded) or is already holding.

How that holds under concurrency:
- SQLite: every queue write runs in `BEGIN IMMEDIATE`, so leasing is serialised by the database
  write lock and the counts a leaser reads cannot change under it.
- PostgreSQL: a leaser locks the candidate record row (`FOR UPDATE SKIP LOCKED`) and only then
  counts its leases and responses in a fresh statement; submit locks the row too. Counting per
  record is serialised while different records are leased in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from synthloop.errors import InvalidResponse, Problem, SynthloopError, UnknownUsers
from synthloop.quality.dataset import decide
from synthloop.records import RESPONSE_STATUSES, STATUSES, Record, Response
from synthloop.store import tables as t
from synthloop.store.dataset import Dataset

__all__ = ["ANSWERABLE", "enqueue", "lease_next", "release", "submit"]

# Records that take answers: queued (the crowd's work), and annotated or disputed ones, which a
# reviewer (or more annotators) may still settle. Pending records are not routed yet; accepted,
# rejected and failed ones are settled.
ANSWERABLE = ("queued", "annotated", "disputed")
# The decision run when a record's submitted responses reach the overlap. Majority decides each
# record from its own answers alone, which is exact for one record; `synthloop aggregate` can
# still re-decide open records with a method fitted over the whole dataset.
DECISION_METHOD = "majority"
# Attempts before lease_next gives up on PostgreSQL, where a candidate can fill up between
# choosing it and locking it; each attempt is its own short transaction.
_ATTEMPTS = 50


# ---------------------------------------------------------------- enqueue


def enqueue(dataset: Dataset, status: str = "pending", limit: int | None = None) -> int:
    """Move the dataset's records with `status` to `queued`, the `limit` highest-priority ones
    (then lowest id) when a limit is given; returns how many moved."""
    if status not in STATUSES:
        raise SynthloopError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if limit is not None and limit < 0:
        raise SynthloopError(f"limit {limit} is negative; give 0 or more records to queue")
    chosen = select(t.records.c.id).where(
        t.records.c.dataset_id == dataset.id, t.records.c.status == status
    )
    if limit is not None:
        chosen = chosen.order_by(t.records.c.priority.desc(), t.records.c.id).limit(limit)
    query = (
        update(t.records)
        .where(t.records.c.id.in_(chosen.scalar_subquery()))
        .values(status="queued", updated_at=func.now())
    )
    with write_transaction(dataset.engine) as conn:
        return conn.execute(query).rowcount


# ---------------------------------------------------------------- leasing


def lease_next(dataset: Dataset, username: str, now: datetime | None = None) -> Record | None:
    """The record `username` should annotate next, leased to them; None when nothing is left.

    Their own running lease in this dataset comes back first (a reload resumes the same record).
    Otherwise the highest-priority queued record (then the lowest id) they have not answered and
    that has room: running leases plus submitted responses below the overlap. The lease runs for
    `distribution.lease_seconds` from `now` (default: the current time; naive means UTC). The
    record's `responses` hold only the caller's own (a draft to resume), never the others'.
    """
    at = _utc(now)
    user_id = _user_id(dataset.engine, username)
    for _ in range(_ATTEMPTS):
        try:
            with write_transaction(dataset.engine) as conn:
                record_id, done = _lease_once(conn, dataset, user_id, at)
        except IntegrityError:
            continue  # the same user leasing in parallel took this record: look again
        if done:
            return None if record_id is None else _own_view(dataset, record_id, username)
    return None


def _lease_once(
    conn: Connection, dataset: Dataset, user_id: int, at: datetime
) -> tuple[int | None, bool]:
    """One attempt: (record id, True) when leased or already held, (None, True) when nothing is
    left, (None, False) when the candidate filled up meanwhile and another attempt is due."""
    held = conn.execute(_held(dataset, user_id, at)).scalar()
    if held is not None:
        return held, True
    # Skip records other leasers have locked; only when all candidates are locked, wait for one,
    # so "nothing left" is never answered while a record still has room.
    record_id = conn.execute(_candidates(dataset, user_id, at, skip_locked=True)).scalar()
    if record_id is None:
        record_id = conn.execute(_candidates(dataset, user_id, at, skip_locked=False)).scalar()
    if record_id is None:
        return None, True
    # Locked now: counted in a fresh statement, this sees every lease committed before the lock.
    if conn.execute(select(_holders(record_id, at))).scalar_one() >= _overlap(dataset):
        return None, False
    _grant(conn, dataset, record_id, user_id, at)
    return record_id, True


def _held(dataset: Dataset, user_id: int, at: datetime) -> Any:
    return (
        select(t.leases.c.record_id)
        .join(t.records, t.records.c.id == t.leases.c.record_id)
        .where(
            t.leases.c.user_id == user_id,
            t.leases.c.expires_at > at,
            t.records.c.dataset_id == dataset.id,
            t.records.c.status == "queued",
        )
        .order_by(t.leases.c.expires_at, t.leases.c.record_id)
        .limit(1)
    )


def _candidates(dataset: Dataset, user_id: int, at: datetime, skip_locked: bool) -> Any:
    """The best queued record the user has not answered that has room, locked for update (SQLite
    renders no FOR UPDATE: the write lock already serialises)."""
    record = t.records.c.id
    answered = exists().where(t.responses.c.record_id == record, t.responses.c.user_id == user_id)
    return (
        select(record)
        .where(
            t.records.c.dataset_id == dataset.id,
            t.records.c.status == "queued",
            ~answered,
            _holders(record, at) < _overlap(dataset),
        )
        .order_by(t.records.c.priority.desc(), record)
        .limit(1)
        .with_for_update(skip_locked=skip_locked, of=t.records)
    )


def _holders(record: Any, at: datetime) -> Any:
    """How many hold the record: running leases plus submitted responses. Submit swaps a lease
    for a response in one transaction, so nobody is counted twice."""
    leases = (
        select(func.count())
        .where(t.leases.c.record_id == record, t.leases.c.expires_at > at)
        .scalar_subquery()
    )
    answers = (
        select(func.count())
        .where(t.responses.c.record_id == record, t.responses.c.status == "submitted")
        .scalar_subquery()
    )
    return leases + answers


def _grant(conn: Connection, dataset: Dataset, record_id: int, user_id: int, at: datetime) -> None:
    # The user's expired lease on this record, if any, would break uniqueness: replace it.
    mine = (t.leases.c.record_id == record_id) & (t.leases.c.user_id == user_id)
    conn.execute(delete(t.leases).where(mine))
    expires = at + timedelta(seconds=dataset.settings.distribution.lease_seconds)
    conn.execute(insert(t.leases).values(record_id=record_id, user_id=user_id, expires_at=expires))


def release(dataset: Dataset, record_id: int, username: str) -> bool:
    """Give up the user's lease on a record (the annotator skips it for now); True if one was
    held. The record goes back to the others; this user may be served it again."""
    user_id = _user_id(dataset.engine, username)
    ours = select(t.records.c.id).where(t.records.c.dataset_id == dataset.id)
    query = delete(t.leases).where(
        t.leases.c.record_id == record_id,
        t.leases.c.user_id == user_id,
        t.leases.c.record_id.in_(ours),
    )
    with write_transaction(dataset.engine) as conn:
        return conn.execute(query).rowcount > 0


# ---------------------------------------------------------------- submitting


def submit(
    dataset: Dataset,
    record_id: int,
    username: str,
    values: Mapping[str, Any],
    status: str = "submitted",
    duration: float | None = None,
) -> Response:
    """Store the user's response to a record and end their lease, in one transaction.

    Every value is checked against its question, and required questions must be answered when
    `status` is "submitted"; InvalidResponse lists every problem and nothing is stored. A second
    call updates the same response (one per record and user). A "draft" keeps the lease; a
    "discarded" response (the annotator skips the record for good) ends it and does not count
    toward the overlap. The record must be queued, annotated or disputed (ANSWERABLE); a lease is
    not required, so work finished after a lease ran out is kept. Once a record's submitted
    responses reach the overlap (or a reviewer answers), it is decided: accepted or disputed.
    """
    if status not in RESPONSE_STATUSES:
        raise SynthloopError(
            f"response status {status!r} is not one of {', '.join(RESPONSE_STATUSES)}"
        )
    user_id = _user_id(dataset.engine, username)
    answer = {k: v for k, v in values.items() if v is not None}
    with write_transaction(dataset.engine) as conn:
        fields, external_id = _answerable(conn, dataset, record_id)
        _validate(dataset, answer, fields, status, external_id)
        _save(conn, record_id, user_id, answer, status, duration)
        due = status == "submitted" and _decision_due(conn, dataset, record_id, user_id)
    if due:
        decide(dataset, DECISION_METHOD, record_ids=[record_id])
    return Response(username, answer, status, duration)


def _decision_due(conn: Connection, dataset: Dataset, record_id: int, user_id: int) -> bool:
    """Whether this submission settles the record: the overlap is reached, or a reviewer spoke.
    Deciding reads the whole record back, so it is skipped for the submissions before that."""
    submitted = select(func.count()).where(
        t.responses.c.record_id == record_id, t.responses.c.status == "submitted"
    )
    if conn.execute(submitted).scalar_one() >= _overlap(dataset):
        return True
    role = conn.execute(select(t.users.c.role).where(t.users.c.id == user_id)).scalar()
    return role == "reviewer"


def _answerable(conn: Connection, dataset: Dataset, record_id: int) -> tuple[dict[str, Any], str]:
    """The record's fields and external id, its row locked against leasers and other submits."""
    query = (
        select(t.records.c.fields, t.records.c.external_id, t.records.c.status)
        .where(t.records.c.id == record_id, t.records.c.dataset_id == dataset.id)
        .with_for_update()
    )
    row = conn.execute(query).first()
    if row is None:
        raise SynthloopError(f"record {record_id} is not a record of dataset {dataset.name!r}")
    if row.status not in ANSWERABLE:
        raise SynthloopError(
            f"record {row.external_id!r} is {row.status} and takes no answers (only "
            f"{', '.join(ANSWERABLE)} records do); queue it again with `synthloop queue "
            f"{dataset.name} --status {row.status}` to collect new answers"
        )
    return dict(row.fields), str(row.external_id)


def _validate(
    dataset: Dataset, values: dict[str, Any], fields: dict[str, Any], status: str, where: str
) -> None:
    questions = {q.name: q for q in dataset.settings.questions}
    problems = [
        Problem(
            f"question {name!r}",
            f"is not a question of dataset {dataset.name!r} (questions: {', '.join(questions)})",
        )
        for name in values
        if name not in questions
    ]
    for name, question in questions.items():
        if name in values:
            why = question.check(values[name], fields)
            if why:
                problems.append(Problem(f"question {name!r}", why))
        elif question.required and status == "submitted":
            problems.append(
                Problem(f"question {name!r}", "is required to submit; answer it or save a draft")
            )
    if problems:
        raise InvalidResponse(problems, source=f"record {where!r}")


def _save(
    conn: Connection,
    record_id: int,
    user_id: int,
    values: dict[str, Any],
    status: str,
    duration: float | None,
) -> None:
    mine = (t.responses.c.record_id == record_id) & (t.responses.c.user_id == user_id)
    row = {"values": values, "status": status, "duration": duration}
    found = conn.execute(select(t.responses.c.id).where(mine)).scalar()
    if found is None:
        conn.execute(insert(t.responses).values(record_id=record_id, user_id=user_id, **row))
    else:
        conn.execute(update(t.responses).where(mine).values(updated_at=func.now(), **row))
    if status != "draft":
        lease = (t.leases.c.record_id == record_id) & (t.leases.c.user_id == user_id)
        conn.execute(delete(t.leases).where(lease))


# ---------------------------------------------------------------- plumbing


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that may write. On SQLite it takes the write lock up front (BEGIN
    IMMEDIATE): a deferred transaction that reads and then writes can fail with "database is
    locked" without waiting, and its reads could go stale before it writes."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    # AUTOCOMMIT stops pysqlite from issuing its own BEGIN, so ours is the transaction
    # (SQLAlchemy's pysqlite "serializable isolation" recipe, for this connection only; the
    # pool restores the isolation level when the connection goes back).
    # Threads of one process queue on a lock first: SQLite's busy handler makes a waiting writer
    # sleep in growing steps (up to 100 ms) and retry, which under 32 annotators turned waits of
    # a millisecond into p99 latencies of seconds. Other processes still meet SQLite's own lock.
    with (
        _writer_lock(engine),
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
    ):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


_WRITER_LOCKS: dict[str, threading.Lock] = {}


def _writer_lock(engine: Engine) -> threading.Lock:
    """One lock per SQLite database file in this process."""
    return _WRITER_LOCKS.setdefault(str(engine.url), threading.Lock())


def _own_view(dataset: Dataset, record_id: int, username: str) -> Record | None:
    found = dataset.records_by_id([record_id])
    if not found:
        return None
    record = found[0]
    record.responses = [r for r in record.responses if r.user == username]
    return record


def _overlap(dataset: Dataset) -> int:
    return dataset.settings.distribution.overlap


def _user_id(engine: Engine, username: str) -> int:
    with engine.connect() as conn:
        found = conn.execute(select(t.users.c.id).where(t.users.c.username == username)).scalar()
    if found is None:
        raise UnknownUsers([username])
    return int(found)


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
