"""The server at the scale of issue 8: four `synthloop serve` worker processes on one PostgreSQL
store, 64 annotators at once on 600 records with overlap 3.

test_live.py holds the guarantees at 32 annotators; here more server processes lease and submit
in parallel on different records (`FOR UPDATE SKIP LOCKED`), so a lost submission, a record
answered twice by one annotator, a record answered more than the overlap or one left queued or
leased would show. The run is bounded by count and a hang guard; nothing asserts on elapsed time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from live import serve
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
HANG_GUARD = 600.0  # seconds: only a stuck server or client reaches it; never a time assertion


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


async def _annotate(url: str, token: str) -> list[tuple[int, str]]:
    """One annotator: next, submit, until nothing is left; the (record, user) pairs acknowledged."""
    acked: list[tuple[int, str]] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
        for _ in range(RECORDS + 1):  # bounded: the last round finds nothing left
            reply = await http.get("/api/datasets/support/next")
            if reply.status_code == 204:
                return acked
            assert reply.status_code == 200, reply.text
            record_id = reply.json()["id"]
            stored = await http.post(f"/api/records/{record_id}/responses", json={"values": ANSWER})
            assert stored.status_code == 200, stored.text
            acked.append((record_id, stored.json()["user"]))
    raise AssertionError("an annotator still had work after answering every record")


async def _crowd(url: str, tokens: dict[str, str]) -> list[tuple[int, str]]:
    everyone = asyncio.gather(*(_annotate(url, token) for token in tokens.values()))
    answered = await asyncio.wait_for(everyone, HANG_GUARD)
    return [pair for pairs in answered for pair in pairs]


def _responses(db: str) -> list[tuple[int, str, str]]:
    query = select(t.responses.c.record_id, t.users.c.username, t.responses.c.status).join(
        t.users, t.users.c.id == t.responses.c.user_id
    )
    with synthloop.open(db) as store, store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


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
    with (
        serve(db_url, tmp_path / "server.log", workers=WORKERS) as url,
        ThreadPoolExecutor(1) as loop_thread,
    ):
        # The crowd's loop in a thread of its own, as in test_live.py: a sync Playwright session
        # in the same pytest run keeps a loop running in the main thread.
        acked = loop_thread.submit(lambda: asyncio.run(_crowd(url, tokens))).result()
    assert len(acked) == RECORDS * OVERLAP, "submissions were lost or extra ones acknowledged"
    assert len(acked) == len(set(acked)), "someone answered a record twice"
    stored = _responses(db_url)
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
