"""The work queue: records handed to annotators under leases, and their answers taken back.

A record is served while it is `queued`, and only to members of its dataset (owners may work
on every dataset). An annotator holds it under a lease until the lease expires or they submit; a
record is never held (leases still running plus submitted responses) by more annotators than
`distribution.overlap`, and nobody is served a record they are already holding or have answered
(a submitted or discarded response). A draft does not count as an answer: when its lease runs
out, the record can come back to the same annotator, with the draft, to finish.

How that holds under concurrency:
- SQLite: every queue write runs in `BEGIN IMMEDIATE`, so leasing is serialised by the database
  write lock and the counts a leaser reads cannot change under it. (Queue writers also queue on
  a lock file beside the database first, which only makes waiting cheaper: see
  `write_transaction`.)
- PostgreSQL: a leaser locks the candidate record row (`FOR UPDATE SKIP LOCKED`) and only then
  counts its leases and responses in a fresh statement; submit locks the row too. Counting per
  record is serialised while different records are leased in parallel.

Every statement is built once, here, with bound parameters: building SQLAlchemy expressions per
call cost more than running them.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from synthloop.accounts.credentials import User
from synthloop.errors import InvalidResponse, NotAMember, Problem, SynthloopError, UnknownUsers
from synthloop.quality.dataset import decisions
from synthloop.records import RESPONSE_STATUSES, STATUSES, Record, Response, Suggestion
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

_records, _leases, _responses = t.records.c, t.leases.c, t.responses.c


# ---------------------------------------------------------------- enqueue


def enqueue(dataset: Dataset, status: str = "pending", limit: int | None = None) -> int:
    """Move the dataset's records with `status` to `queued`, the `limit` highest-priority ones
    (then lowest id) when a limit is given; returns how many moved."""
    if status not in STATUSES:
        raise SynthloopError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if limit is not None and limit < 0:
        raise SynthloopError(f"limit {limit} is negative; give 0 or more records to queue")
    chosen = select(_records.id).where(_records.dataset_id == dataset.id, _records.status == status)
    if limit is not None:
        chosen = chosen.order_by(_records.priority.desc(), _records.id).limit(limit)
    query = (
        update(t.records)
        .where(_records.id.in_(chosen.scalar_subquery()))
        .values(status="queued", updated_at=func.now())
    )
    with write_transaction(dataset.engine) as conn:
        return conn.execute(query).rowcount


# ---------------------------------------------------------------- leasing


def lease_next(dataset: Dataset, user: User | str, now: datetime | None = None) -> Record | None:
    """The record `user` (a User, or a username) should annotate next, leased to them; None when
    nothing is left. NotAMember when they are neither a member of the dataset nor an owner.

    Their own running lease in this dataset comes back first (a reload resumes the same record).
    Otherwise the highest-priority queued record (then the lowest id) they have not answered and
    that has room: running leases plus submitted responses below the overlap. The lease runs for
    `distribution.lease_seconds` from `now` (default: the current time; naive means UTC). The
    record's `responses` hold only the caller's own (a draft to resume), never the others'.
    """
    at = _utc(now)
    for _ in range(_ATTEMPTS):
        with write_transaction(dataset.engine) as conn:
            done, record = _lease_once(conn, dataset, _resolve(conn, user), at)
        if done:
            return record
    return None


def _lease_once(
    conn: Connection, dataset: Dataset, user: User, at: datetime
) -> tuple[bool, Record | None]:
    """One attempt: (True, the record) when leased or already held, (True, None) when nothing
    is left, (False, None) when the candidate filled up meanwhile and another attempt is due."""
    _check_member(conn, dataset, user)
    params = {"dataset": dataset.id, "user": user.id, "at": at, "overlap": _overlap(dataset)}
    held = conn.execute(_HELD, params).scalar()
    if held is not None:
        return True, _own_view(conn, held, user)
    record_id = _candidate(conn, params)
    if record_id is None:
        return True, None
    if conn.dialect.name != "sqlite" and _full(conn, params, record_id):
        return False, None
    expires = at + timedelta(seconds=dataset.settings.distribution.lease_seconds)
    grant = {"record": record_id, "user": user.id, "expires": expires}
    conn.execute(_GRANT[conn.dialect.name], grant)
    return True, _own_view(conn, record_id, user)


def _candidate(conn: Connection, params: dict[str, Any]) -> int | None:
    """The best record with room the user has not answered, locked on PostgreSQL. Records
    other leasers have locked are skipped; only when all candidates are locked, wait for one, so
    "nothing left" is never answered while a record still has room."""
    found = conn.execute(_CANDIDATE_SKIP_LOCKED, params).scalar()
    if found is None and conn.dialect.name != "sqlite":
        found = conn.execute(_CANDIDATE_WAIT, params).scalar()
    return found


def _full(conn: Connection, params: dict[str, Any], record_id: int) -> bool:
    """Whether the record, locked now, has no room: counted in a fresh statement, this sees
    every lease committed before the lock. (On SQLite the write lock kept the candidate's count
    current, so this is for PostgreSQL.)"""
    holders = conn.execute(_HOLDERS, {**params, "record": record_id}).scalar_one()
    return bool(holders >= params["overlap"])


def _own_view(conn: Connection, record_id: int, user: User) -> Record:
    """The record, with the user's own response only (a draft to resume), and its suggestions."""
    row = conn.execute(_OWN_VIEW, {"record": record_id, "user": user.id}).one()
    suggestions = {
        s.question: Suggestion(s.value, s.score, s.agent)
        for s in conn.execute(_SUGGESTIONS, {"record": record_id})
    }
    own = (
        []
        if row.answer_status is None
        else [Response(user.username, row.answer, row.answer_status, row.answer_duration)]
    )
    return _record(row, suggestions, own)


def _record(row: Any, suggestions: dict[str, Suggestion], responses: list[Response]) -> Record:
    return Record(
        fields=dict(row.fields),
        external_id=row.external_id,
        metadata=dict(row.metadata),
        provenance=dict(row.provenance),
        status=row.status,
        reason=row.reason,
        priority=row.priority,
        suggestions=suggestions,
        responses=responses,
        final=row.final,
        id=row.id,
    )


def release(dataset: Dataset, record_id: int, user: User | str) -> bool:
    """Give up the user's lease on a record (the annotator skips it for now); True if one was
    held. The record goes back to the others; this user may be served it again."""
    with write_transaction(dataset.engine) as conn:
        params = {"record": record_id, "user": _resolve(conn, user).id, "dataset": dataset.id}
        return conn.execute(_RELEASE, params).rowcount > 0


# ---------------------------------------------------------------- submitting


def submit(
    dataset: Dataset,
    record_id: int,
    user: User | str,
    values: Mapping[str, Any],
    status: str = "submitted",
    duration: float | None = None,
    *,
    members_only: bool = False,
) -> Response:
    """Store the user's response to a record and end their lease, in one transaction; `user` is
    a User or a username. With `members_only`, NotAMember when they are neither a member of the
    dataset nor an owner (checked in that transaction: the server asks no separate read).

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
    answer = {k: v for k, v in values.items() if v is not None}
    with write_transaction(dataset.engine) as conn:
        who = _resolve(conn, user)
        if members_only:
            _check_member(conn, dataset, who)
        record = _answerable(conn, dataset, record_id)
        _validate(dataset, answer, record.fields, status, str(record.external_id))
        saved = {"record": record_id, "user": who.id}
        row = {"answer": answer, "answer_status": status, "answer_duration": duration}
        conn.execute(_SAVE[conn.dialect.name], saved | row)
        if status != "draft":
            conn.execute(_END_LEASE, saved)
        if status == "submitted" and _decision_due(conn, dataset, record_id, who):
            _decide(conn, dataset, record)
    return Response(who.username, answer, status, duration)


def _decision_due(conn: Connection, dataset: Dataset, record_id: int, user: User) -> bool:
    """Whether this submission settles the record: a reviewer spoke, or the overlap is reached.
    Deciding reads every answer to the record, so it is skipped for the submissions before."""
    if user.role == "reviewer":
        return True
    return conn.execute(_SUBMITTED, {"record": record_id}).scalar_one() >= _overlap(dataset)


def _decide(conn: Connection, dataset: Dataset, record: Record) -> None:
    """Decide the record from its answers, in the transaction that stored the last one, so no
    other submit can slip in between reading the answers and writing the outcome."""
    reviewers: set[str] = set()
    for answer in conn.execute(_ANSWERS, {"record": record.id}):
        record.responses.append(
            Response(answer.username, answer.answer, answer.answer_status, answer.answer_duration)
        )
        if answer.role == "reviewer":
            reviewers.add(answer.username)
    changes, _ = decisions(dataset.settings, [record], reviewers, DECISION_METHOD)
    rows = [{f"new_{k}" if k != "record_id" else k: v for k, v in c.items()} for c in changes]
    if rows:
        conn.execute(_DECIDED, rows)


def _answerable(conn: Connection, dataset: Dataset, record_id: int) -> Record:
    """The record (without its answers), its row locked against leasers and other submits."""
    row = conn.execute(_ANSWERABLE, {"record": record_id, "dataset": dataset.id}).first()
    if row is None:
        raise SynthloopError(f"record {record_id} is not a record of dataset {dataset.name!r}")
    if row.status not in ANSWERABLE:
        raise SynthloopError(
            f"record {row.external_id!r} is {row.status} and takes no answers (only "
            f"{', '.join(ANSWERABLE)} records do); queue it again with `synthloop queue "
            f"{dataset.name} --status {row.status}` to collect new answers"
        )
    return _record(row, {}, [])


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


# ---------------------------------------------------------------- users and members


def _resolve(conn: Connection, user: User | str) -> User:
    """The caller as a User: as given, or looked up by username."""
    if isinstance(user, User):
        return user
    row = conn.execute(_USER, {"username": user}).first()
    if row is None:
        raise UnknownUsers([user])
    return User(row.id, row.username, row.role)


def _check_member(conn: Connection, dataset: Dataset, user: User) -> None:
    if user.role == "owner":
        return
    if conn.execute(_MEMBER, {"dataset": dataset.id, "user": user.id}).first() is None:
        raise NotAMember(user.username, dataset.name)


# ---------------------------------------------------------------- statements


def _holders(record: Any) -> Any:
    """How many hold the record: running leases plus submitted responses. Submit swaps a lease
    for a response in one transaction, so nobody is counted twice."""
    running = (
        select(func.count())
        .where(_leases.record_id == record, _leases.expires_at > bindparam("at"))
        .scalar_subquery()
    )
    answers = (
        select(func.count())
        .where(_responses.record_id == record, _responses.status == "submitted")
        .scalar_subquery()
    )
    return running + answers


_USER = select(t.users.c.id, t.users.c.username, t.users.c.role).where(
    t.users.c.username == bindparam("username")
)
_MEMBER = select(literal(1)).where(
    t.memberships.c.dataset_id == bindparam("dataset"),
    t.memberships.c.user_id == bindparam("user"),
)
_HELD = (
    select(_leases.record_id)
    .join(t.records, _records.id == _leases.record_id)
    .where(
        _leases.user_id == bindparam("user"),
        _leases.expires_at > bindparam("at"),
        _records.dataset_id == bindparam("dataset"),
        _records.status == "queued",
    )
    .order_by(_leases.expires_at, _leases.record_id)
    .limit(1)
)
# A draft is not an answer: the record may come back to finish it.
_ANSWERED = exists().where(
    _responses.record_id == _records.id,
    _responses.user_id == bindparam("user"),
    _responses.status != "draft",
)
# Walks the (dataset_id, status, priority desc, id) index in order and stops at the first record
# with room. SQLite renders no FOR UPDATE: its write lock already serialises leasers.
_CANDIDATE = (
    select(_records.id)
    .where(
        _records.dataset_id == bindparam("dataset"),
        _records.status == "queued",
        ~_ANSWERED,
        _holders(_records.id) < bindparam("overlap"),
    )
    .order_by(_records.priority.desc(), _records.id)
    .limit(1)
)
_CANDIDATE_SKIP_LOCKED = _CANDIDATE.with_for_update(skip_locked=True, of=t.records)
_CANDIDATE_WAIT = _CANDIDATE.with_for_update(of=t.records)
_HOLDERS = select(_holders(bindparam("record")))
_RECORD = (
    _records.id,
    _records.external_id,
    _records.fields,
    _records.metadata,
    _records.provenance,
    _records.status,
    _records.reason,
    _records.priority,
    _records.final,
)
_ANSWER = (
    _responses["values"].label("answer"),
    _responses.status.label("answer_status"),
    _responses.duration.label("answer_duration"),
)
_OWN = and_(_responses.record_id == _records.id, _responses.user_id == bindparam("user"))
_OWN_VIEW = (
    select(*_RECORD, *_ANSWER)
    .select_from(t.records.outerjoin(t.responses, _OWN))
    .where(_records.id == bindparam("record"))
)
_SUGGESTIONS = (
    select(
        t.suggestions.c.question,
        t.suggestions.c.value,
        t.suggestions.c.score,
        t.suggestions.c.agent,
    )
    .where(t.suggestions.c.record_id == bindparam("record"))
    .order_by(t.suggestions.c.id)
)
_RELEASE = delete(t.leases).where(
    _leases.record_id == bindparam("record"),
    _leases.user_id == bindparam("user"),
    _leases.record_id.in_(select(_records.id).where(_records.dataset_id == bindparam("dataset"))),
)
_ANSWERABLE = (
    select(*_RECORD)
    .where(_records.id == bindparam("record"), _records.dataset_id == bindparam("dataset"))
    .with_for_update()
)
_END_LEASE = delete(t.leases).where(
    _leases.record_id == bindparam("record"), _leases.user_id == bindparam("user")
)
_SUBMITTED = select(func.count()).where(
    _responses.record_id == bindparam("record"), _responses.status == "submitted"
)
_ANSWERS = (
    select(t.users.c.username, t.users.c.role, *_ANSWER)
    .select_from(t.responses)
    .join(t.users, t.users.c.id == _responses.user_id)
    .where(_responses.record_id == bindparam("record"))
    .order_by(_responses.id)
)
_DECIDED = (
    update(t.records)
    .where(_records.id == bindparam("record_id"))
    .values(
        status=bindparam("new_status"),
        reason=bindparam("new_reason"),
        final=bindparam("new_final", type_=t.Json),
        metadata=bindparam("new_metadata", type_=t.Json),
        updated_at=func.now(),
    )
)


def _upserts(build: Any) -> dict[str, Any]:
    """An INSERT .. ON CONFLICT DO UPDATE per dialect (both spell it alike)."""
    dialects = (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
    return {name: build(insert) for name, insert in dialects}


def _grant_statement(insert: Any) -> Any:
    # The user's expired lease on this record, if any, is renewed in place.
    new = (
        insert(t.leases)
        .inline()
        .values(
            record_id=bindparam("record"),
            user_id=bindparam("user"),
            expires_at=bindparam("expires"),
        )
    )
    return new.on_conflict_do_update(
        index_elements=["record_id", "user_id"],
        set_={"expires_at": new.excluded.expires_at, "created_at": func.now()},
    )


def _save_statement(insert: Any) -> Any:
    new = (
        insert(t.responses)
        .inline()
        .values(
            record_id=bindparam("record"),
            user_id=bindparam("user"),
            values=bindparam("answer"),
            status=bindparam("answer_status"),
            duration=bindparam("answer_duration"),
        )
    )
    return new.on_conflict_do_update(
        index_elements=["record_id", "user_id"],
        set_={
            "values": new.excluded["values"],
            "status": new.excluded.status,
            "duration": new.excluded.duration,
            "updated_at": func.now(),
        },
    )


_GRANT = _upserts(_grant_statement)
_SAVE = _upserts(_save_statement)


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
    # Queue writers queue on a lock first: SQLite's busy handler makes a waiting writer sleep in
    # growing steps (up to 100 ms) and retry, which under 32 annotators turned waits of a
    # millisecond into p99 latencies of seconds. See _writer_lock.
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


class _WriterLock:
    """Queue writers to one SQLite database take turns here before BEGIN IMMEDIATE: threads of
    this process on a threading.Lock, then processes (several server workers) on an exclusive
    flock of the file `<database>-lock`, which the kernel hands to the next waiter the moment it
    is released. flock excludes open file descriptions, not threads, hence both: one descriptor
    per process, used by one thread at a time.

    Correctness never rests on this lock: BEGIN IMMEDIATE still serialises writers, including
    those that do not take it (imports, the CLI). Without the lock file (an in-memory database,
    a directory we may not create files in, or no flock on this platform), only the threads of
    one process queue here, and other processes meet SQLite's busy handler.
    """

    def __init__(self, database: str | None) -> None:
        self._threads = threading.Lock()
        self._path = f"{database}-lock" if database and database != ":memory:" else None
        self._fd: int | None = None
        self._pid = 0

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            fd = self._descriptor()
            if fd is not None:
                _flock(fd, exclusive=True)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *_: object) -> None:
        try:
            if self._fd is not None and self._pid == os.getpid():
                _flock(self._fd, exclusive=False)
        finally:
            self._threads.release()

    def _descriptor(self) -> int | None:
        """This process's descriptor of the lock file, opened on first use (and again in a
        forked child, which must not share its parent's: a shared one would not exclude)."""
        if self._path is None or sys.platform == "win32":
            return None
        if self._pid != os.getpid():
            self._pid, self._fd = os.getpid(), None
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError:
                self._path = None  # e.g. a read-only directory: threads only, as documented
        return self._fd


def _flock(fd: int, exclusive: bool) -> None:
    if sys.platform != "win32":
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_UN)


_WRITER_LOCKS: dict[str, _WriterLock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> _WriterLock:
    """One lock per SQLite database file in this process."""
    key = str(engine.url)
    with _WRITER_LOCKS_GUARD:
        lock = _WRITER_LOCKS.get(key)
        if lock is None:
            lock = _WRITER_LOCKS[key] = _WriterLock(engine.url.database)
        return lock


def _overlap(dataset: Dataset) -> int:
    return dataset.settings.distribution.overlap


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
