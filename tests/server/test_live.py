"""The server over a real socket at the issue's size: 32 annotators at once on 1,000 records with
overlap 3, on SQLite and PostgreSQL.

Each annotator is an async HTTP client of its own (its own connections), all in flight together
against a `synthloop serve` subprocess. The run is bounded by count: nobody can answer more than
every record; a hang guard stops a stuck run, and nothing asserts on elapsed time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from live import serve
from sqlalchemy import select

import synthloop
from synthloop.accounts import assign, create_user
from synthloop.server.queue import enqueue
from synthloop.store import tables as t

ANNOTATORS = 32
RECORDS = 1000
OVERLAP = 3
ANSWER = {"intent": "refund", "quality": 4}
HANG_GUARD = 600.0  # seconds: only a stuck server or client reaches it; never a time assertion


def _prepare(db: str, settings: synthloop.Settings) -> dict[str, str]:
    settings = settings.model_copy(
        update={"distribution": settings.distribution.model_copy(update={"overlap": OVERLAP})}
    )
    with synthloop.open(db) as store:
        dataset = store.create_dataset("support", settings)
        dataset.add({"id": f"r{i}", "text": f"order {i}?", "reply": "soon"} for i in range(RECORDS))
        assert enqueue(dataset) == RECORDS
        tokens = {
            f"a{i:02}": create_user(store, f"a{i:02}", "annotator").token for i in range(ANNOTATORS)
        }
        assign(store, "support", list(tokens))
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


def _stored(db: str) -> list[tuple[int, str, str]]:
    query = select(t.responses.c.record_id, t.users.c.username, t.responses.c.status).join(
        t.users, t.users.c.id == t.responses.c.user_id
    )
    with synthloop.open(db) as store, store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_annotators_over_http(
    db_url: str, settings: synthloop.Settings, tmp_path: Path, workers: int
) -> None:
    """With two server processes too: on SQLite their queue writes take turns on the lock file
    and on BEGIN IMMEDIATE, and the guarantees must hold across processes."""
    tokens = _prepare(db_url, settings)
    with (
        serve(db_url, tmp_path / "server.log", workers=workers) as url,
        ThreadPoolExecutor(1) as loop_thread,
    ):
        # The crowd's event loop runs in a thread of its own: a sync Playwright session (the
        # browser tests) keeps a loop running in the main thread, where asyncio.run would refuse.
        acked = loop_thread.submit(lambda: asyncio.run(_crowd(url, tokens))).result()
    assert len(acked) == len(set(acked)), "someone answered a record twice"
    stored = _stored(db_url)
    assert all(status == "submitted" for _, _, status in stored)
    # Every acknowledged submission is in the store, and nothing else is.
    assert sorted(acked) == sorted((record, user) for record, user, _ in stored)
    per_record = Counter(record for record, _ in acked)
    assert len(per_record) == RECORDS
    assert set(per_record.values()) == {OVERLAP}
