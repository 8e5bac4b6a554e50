"""The server at the scale of issue 8: four `synthloop serve` worker processes on one PostgreSQL
store, 64 annotators at once on 600 records with overlap 3.

test_live.py holds the guarantees at 32 annotators; here more server processes lease and submit
in parallel on different records (`FOR UPDATE SKIP LOCKED`), so a lost submission, a record
answered twice by one annotator, a record answered more than the overlap or one left queued or
leased would show. The run is bounded by count and a hang guard; nothing asserts on elapsed time.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from live import crowd, serve, stored_responses
from sqlalchemy import func, select

import synthloop
from synthloop.accounts import assign, create_user
from synthloop.server.queue import enqueue
from synthloop.store import tables as t

WORKERS = 4
ANNOTATORS = 64
RECORDS = 600
OVERLAP = 3
ANSWER = {"intent": "refund", "quality": 4}
DECIDED = {"accepted", "disputed"}


def _prepare(db: str, settings: synthloop.Settings) -> dict[str, str]:
    """The dataset queued with overlap 3, and a token per annotator, all assigned to it."""
    settings = settings.model_copy(
        update={"distribution": settings.distribution.model_copy(update={"overlap": OVERLAP})}
    )
    with synthloop.open(db) as store:
        dataset = store.create_dataset("support", settings)
        dataset.add({"id": f"r{i}", "text": f"order {i}?", "reply": "soon"} for i in range(RECORDS))
        assert enqueue(dataset) == RECORDS
        names = [f"a{i:02}" for i in range(ANNOTATORS)]
        tokens = {name: create_user(store, name, "annotator").token for name in names}
        assign(store, "support", names)
    return tokens


def _record_statuses(db: str) -> Counter[str]:
    with synthloop.open(db) as store, store.engine.connect() as conn:
        return Counter(str(status) for status in conn.scalars(select(t.records.c.status)))


def _leases(db: str) -> int:
    with synthloop.open(db) as store, store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(t.leases)) or 0)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_four_workers_sixty_four_annotators(
    db_url: str, settings: synthloop.Settings, tmp_path: Path
) -> None:
    tokens = _prepare(db_url, settings)
    with serve(db_url, tmp_path / "server.log", workers=WORKERS) as url:
        acked = crowd(url, tokens, ANSWER, RECORDS)
    assert len(acked) == RECORDS * OVERLAP, "submissions were lost or extra ones acknowledged"
    assert len(acked) == len(set(acked)), "someone answered a record twice"
    stored = stored_responses(db_url)
    assert all(status == "submitted" for _, _, status in stored)
    # Every acknowledged submission is in the store, and nothing else is.
    assert sorted(acked) == sorted((record, user) for record, user, _ in stored)
    per_record = Counter(record for record, _, _ in stored)
    assert len(per_record) == RECORDS
    assert set(per_record.values()) == {OVERLAP}
    statuses = _record_statuses(db_url)
    assert set(statuses) <= DECIDED, f"records left undecided: {statuses}"
    assert statuses.total() == RECORDS
    assert _leases(db_url) == 0, "leases left behind after every record was answered"
