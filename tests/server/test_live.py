"""The server over a real socket: 32 annotators at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from live import serve
from sqlalchemy import select

import synthloop
from synthloop.accounts import assign, create_user
from synthloop.server.queue import enqueue
from synthloop.store import tables as t

ANNOTATORS = 32
RECORDS = 400  # 1,000 takes ~45 s per backend here; 400 keeps the suite quick
OVERLAP = 3
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


def _annotate(url: str, token: str, acked: list[tuple[int, str]]) -> None:
    with synthloop.Client(url, token) as client:
        support = client.dataset("support")
        for _ in range(RECORDS + 5):  # bounded: nobody can answer more than every record
            record = support.next()
            if record is None:
                return
            stored = client.submit(record["id"], {"intent": "refund", "quality": 4})
            acked.append((record["id"], stored["user"]))
    raise AssertionError("an annotator still had work after answering every record")


def _stored(db: str) -> list[tuple[int, str, str]]:
    query = select(t.responses.c.record_id, t.users.c.username, t.responses.c.status).join(
        t.users, t.users.c.id == t.responses.c.user_id
    )
    with synthloop.open(db) as store, store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


@pytest.mark.slow
def test_concurrent_annotators_over_http(
    db_url: str, settings: synthloop.Settings, tmp_path: Path
) -> None:
    tokens = _prepare(db_url, settings)
    acked: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def run(token: str) -> None:
        try:
            _annotate(url, token, acked)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with serve(db_url, tmp_path / "server.log") as url:
        threads = [threading.Thread(target=run, args=(token,)) for token in tokens.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=HANG_GUARD)
        assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors[0]
    assert len(acked) == len(set(acked)), "someone answered a record twice"
    stored = _stored(db_url)
    assert all(status == "submitted" for _, _, status in stored)
    assert sorted(acked) == sorted((record, user) for record, user, _ in stored)
    per_record: dict[int, int] = {}
    for record, _ in acked:
        per_record[record] = per_record.get(record, 0) + 1
    assert len(per_record) == RECORDS
    assert set(per_record.values()) == {OVERLAP}
