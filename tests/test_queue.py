"""The work queue on SQLite and PostgreSQL: order, leases, overlap, answers and decisions."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import synthloop
from synthloop.accounts import assign, create_user, user_for_token
from synthloop.cli import app
from synthloop.errors import InvalidResponse, NotAMember, SynthloopError
from synthloop.server.queue import enqueue, lease_next, release, submit

WORKER = Path(__file__).with_name("queue_worker.py")
T0 = datetime(2030, 1, 1, tzinfo=UTC)
GOOD = {"intent": "refund", "quality": 4}


def _settings(overlap: int, lease_seconds: int = 600) -> synthloop.Settings:
    return synthloop.Settings.parse(
        {
            "fields": [{"name": "text", "type": "text"}],
            "questions": [
                {"name": "intent", "type": "label", "labels": ["refund", "other"]},
                {"name": "quality", "type": "rating", "values": [1, 2, 3, 4, 5]},
                {"name": "note", "type": "text", "required": False},
            ],
            # 0.6: one vote each way (confidence 0.5) is disputed, two alike are accepted.
            "distribution": {
                "overlap": overlap,
                "lease_seconds": lease_seconds,
                "agreement_threshold": 0.6,
            },
        }
    )


def _queue(
    store: synthloop.Store, overlap: int, priorities: list[float], users: int = 4
) -> synthloop.Dataset:
    ds = store.create_dataset("q", _settings(overlap))
    ds.add([{"id": f"r{i}", "text": f"t{i}", "priority": p} for i, p in enumerate(priorities)])
    assert enqueue(ds) == len(priorities)
    names = ("ana", "ben", "cy", "dee")[:users]
    for name in names:
        store.add_user(name)
    assign(store, ds.name, names)
    return ds


def _lease(ds: synthloop.Dataset, user: str, now: datetime = T0) -> Any:
    record = lease_next(ds, user, now=now)
    return None if record is None else record.external_id


def test_enqueue_limit_takes_the_highest_priority(store: synthloop.Store) -> None:
    ds = store.create_dataset("q", _settings(1))
    ds.add([{"id": f"r{i}", "text": f"t{i}", "priority": p} for i, p in enumerate([1, 5, 3])])
    assert enqueue(ds, limit=2) == 2
    assert {r.external_id for r in ds.records(status="queued")} == {"r1", "r2"}
    assert enqueue(ds, status="queued") == 2  # already queued: counted, unchanged
    with pytest.raises(SynthloopError, match="'nope' is not one of"):
        enqueue(ds, status="nope")


def test_lease_order_own_lease_first_and_no_repeat(store: synthloop.Store) -> None:
    ds = _queue(store, overlap=2, priorities=[1, 9, 5, 9])
    assert [_lease(ds, "ana") for _ in range(2)] == ["r1", "r1"]  # own lease comes back
    assert _lease(ds, "ben") == "r1"
    assert _lease(ds, "cy") == "r3"  # r1 is full (2 holders): next priority, then lowest id
    record = lease_next(ds, "ana", now=T0)
    assert record is not None
    assert record.id is not None
    submit(ds, record.id, "ana", GOOD)
    assert [_lease(ds, "ana")] == ["r3"]  # never r1 again
    assert _lease(ds, "dee") == "r2"


def test_expired_leases_free_the_record(store: synthloop.Store) -> None:
    ds = _queue(store, overlap=1, priorities=[0])
    assert _lease(ds, "ana") == "r0"
    assert _lease(ds, "ben") is None
    later = T0 + timedelta(seconds=601)
    assert _lease(ds, "ben", later) == "r0"
    assert _lease(ds, "ana", later) is None  # ana's lease ran out and ben holds it now
    assert _lease(ds, "ana", later + timedelta(seconds=601)) == "r0"  # expired lease reused


def test_overlap_is_never_exceeded(store: synthloop.Store) -> None:
    ds = _queue(store, overlap=3, priorities=[0, 0])
    got = {user: _lease(ds, user) for user in ("ana", "ben", "cy", "dee")}
    assert got == {"ana": "r0", "ben": "r0", "cy": "r0", "dee": "r1"}


def test_only_members_and_owners_are_served(store: synthloop.Store) -> None:
    ds = _queue(store, overlap=2, priorities=[0])
    store.add_user("eve")
    with pytest.raises(NotAMember, match="synthloop datasets assign q eve"):
        lease_next(ds, "eve", now=T0)
    boss = user_for_token(store, create_user(store, "boss", "owner").token)
    assert boss is not None
    record = lease_next(ds, boss, now=T0)  # a User as the HTTP layer resolved it
    assert record is not None
    assert record.external_id == "r0"
    with pytest.raises(SynthloopError, match="no user named 'zed'"):
        lease_next(ds, "zed", now=T0)


def test_an_expired_draft_comes_back_to_finish(store: synthloop.Store) -> None:
    ds = _queue(store, overlap=1, priorities=[5, 0])
    record = lease_next(ds, "ana", now=T0)
    assert record is not None
    assert record.id is not None
    submit(ds, record.id, "ana", {"intent": "other"}, status="draft")
    later = T0 + timedelta(seconds=601)  # the lease ran out; the draft is not an answer
    again = lease_next(ds, "ana", now=later)
    assert again is not None
    assert again.external_id == "r0"
    assert [(r.user, r.status, r.values) for r in again.responses] == [
        ("ana", "draft", {"intent": "other"})
    ]
    submit(ds, record.id, "ana", GOOD)
    assert _lease(ds, "ana", later) == "r1"  # submitted: never r0 again
    assert _lease(ds, "ben", later) is None  # r0 is full (overlap 1), ana holds r1


def test_submit_reports_every_problem(store: synthloop.Store) -> None:
    ds = _queue(store, overlap=2, priorities=[0])
    record = lease_next(ds, "ana", now=T0)
    assert record is not None
    assert record.id is not None
    with pytest.raises(InvalidResponse) as caught:
        submit(ds, record.id, "ana", {"intent": "angry", "colour": "red"})
    message = str(caught.value)
    assert "3 problems" in message
    assert "question 'intent': label 'angry' is not one of ['refund', 'other']" in message
    assert "question 'colour': is not a question" in message
    assert "question 'quality': is required" in message
    assert submit(ds, record.id, "ana", {"intent": "other"}, status="draft").status == "draft"
    assert _lease(ds, "ana") == "r0"  # a draft keeps the lease
    with pytest.raises(SynthloopError, match="no user named 'zed'"):
        submit(ds, record.id, "zed", GOOD)


def test_submit_is_idempotent_and_ends_the_lease(store: synthloop.Store) -> None:
    ds = _queue(store, overlap=2, priorities=[0])
    record = lease_next(ds, "ana", now=T0)
    assert record is not None
    assert record.id is not None
    submit(ds, record.id, "ana", GOOD, duration=3.0)
    submit(ds, record.id, "ana", {**GOOD, "quality": 5}, duration=4.0)
    (stored,) = ds.records()
    assert [(r.user, r.values["quality"], r.duration) for r in stored.responses] == [
        ("ana", 5, 4.0)
    ]
    assert stored.status == "queued"  # one of two answers: not decided yet
    assert _lease(ds, "ana") is None
    assert release(ds, record.id, "ana") is False


@pytest.mark.parametrize(("second", "status"), [("refund", "accepted"), ("other", "disputed")])
def test_decision_runs_at_the_overlap(store: synthloop.Store, second: str, status: str) -> None:
    ds = _queue(store, overlap=2, priorities=[0, 0])
    for user, intent in (("ana", "refund"), ("ben", second)):
        record = lease_next(ds, user, now=T0)
        assert record is not None
        assert record.id is not None
        assert record.external_id == "r0"
        submit(ds, record.id, user, {**GOOD, "intent": intent})
    decided = {r.external_id: r for r in ds.records()}
    assert decided["r0"].status == status
    assert decided["r1"].status == "queued"  # only the record that reached the overlap
    record_id = decided["r0"].id
    assert record_id is not None
    if status == "accepted":
        assert decided["r0"].final == {"intent": "refund", "quality": 4}
        with pytest.raises(SynthloopError, match="'r0' is accepted and takes no answers"):
            submit(ds, record_id, "cy", GOOD)
    else:  # a disputed record still takes answers: a third one settles it
        submit(ds, record_id, "cy", GOOD)
        assert next(ds.records()).status == "accepted"


def test_a_reviewers_answer_settles_the_record_at_once(store: synthloop.Store) -> None:
    ds = _queue(store, overlap=3, priorities=[0])
    store.add_user("rev", "reviewer")
    assign(store, ds.name, ["rev"])
    for user, intent in (("ana", "refund"), ("rev", "other")):
        record = lease_next(ds, user, now=T0)
        assert record is not None
        assert record.id is not None
        submit(ds, record.id, user, {**GOOD, "intent": intent})
    (decided,) = ds.records()
    assert decided.status == "accepted"  # below the overlap, but a reviewer answered
    assert decided.final == {**GOOD, "intent": "other"}
    assert decided.metadata["decided_by"] == "reviewer:rev"


@pytest.mark.slow
def test_concurrent_annotators_share_records_exactly(
    store: synthloop.Store, db_url: str, tmp_path: Path
) -> None:
    """8 processes x 2 annotator threads on 200 records with overlap 3: each record ends with
    exactly 3 submitted responses from 3 different annotators, and every submit is stored."""
    records, overlap, processes, per_process = 200, 3, 8, 2
    ds = _queue(store, overlap, [float(i % 7) for i in range(records)], users=0)
    teams = [[f"w{p}-{a}" for a in range(per_process)] for p in range(processes)]
    for user in (u for team in teams for u in team):
        store.add_user(user)
    assign(store, ds.name, [u for team in teams for u in team])
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), db_url, ds.name, *team],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        for team in teams
    ]
    returned: list[tuple[int, str]] = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()
        returned += [(int(r), str(u)) for r, u in orjson.loads(out)]
    stored = [(r.id, a.user) for r in ds.records() for a in r.responses if a.status == "submitted"]
    assert len(returned) == len(set(returned)) == records * overlap
    assert sorted(stored) == sorted(returned)  # each (record, user) once, each returned submit kept
    assert Counter(record_id for record_id, _ in stored) == {r.id: overlap for r in ds.records()}
    assert ds.count(by="status") == {"accepted": records}


def test_queue_command(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    with synthloop.open(db) as store:
        ds = store.create_dataset("q", _settings(1))
        ds.add([{"id": f"r{i}", "text": f"t{i}", "priority": i} for i in range(3)])
    runner = CliRunner()
    result = runner.invoke(app, ["queue", "q", "--limit", "2", "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == {"dataset": "q", "from_status": "pending", "queued": 2}
    result = runner.invoke(app, ["queue", "q", "--db", db])
    assert result.exit_code == 0
    assert "queued 1 pending records of dataset 'q'" in result.stdout
    result = runner.invoke(app, ["queue", "nope", "--db", db])
    assert result.exit_code == 1
    assert "dataset 'nope' does not exist" in result.stderr
