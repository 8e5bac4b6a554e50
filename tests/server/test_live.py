"""The server over a real socket at the issue's size: 32 annotators at once on 1,000 records with
overlap 3, on SQLite and PostgreSQL.

Each annotator is an async HTTP client of its own (its own connections), all in flight together
against a `synthloop serve` subprocess. The run is bounded by count: nobody can answer more than
every record; a hang guard stops a stuck run, and nothing asserts on elapsed time.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from live import crowd, serve, stored_responses

import synthloop
from synthloop.accounts import assign, create_user
from synthloop.server.queue import enqueue

ANNOTATORS = 32
RECORDS = 1000
OVERLAP = 3
ANSWER = {"intent": "refund", "quality": 4}


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


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_annotators_over_http(
    db_url: str, settings: synthloop.Settings, tmp_path: Path, workers: int
) -> None:
    """With two server processes too: on SQLite their queue writes take turns on the lock file
    and on BEGIN IMMEDIATE, and the guarantees must hold across processes."""
    tokens = _prepare(db_url, settings)
    with serve(db_url, tmp_path / "server.log", workers=workers) as url:
        acked = crowd(url, tokens, ANSWER, RECORDS)
    assert len(acked) == len(set(acked)), "someone answered a record twice"
    stored = stored_responses(db_url)
    assert all(status == "submitted" for _, _, status in stored)
    # Every acknowledged submission is in the store, and nothing else is.
    assert sorted(acked) == sorted((record, user) for record, user, _ in stored)
    per_record = Counter(record for record, _ in acked)
    assert len(per_record) == RECORDS
    assert set(per_record.values()) == {OVERLAP}
