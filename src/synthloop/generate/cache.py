"""The request cache: each completed answer, stored under the request that produced it.

The key is the sha256 of the backend's identity (type, base URL, model) and the fully rendered
request (messages, parameters, schema), so a request that differs in anything a model would see
is a different key. Answers are staged in memory as they arrive and written by the caller in the
same transaction as the records made from them: after a crash, every record that was stored has
its answers stored too, and a run started again asks the server for none of them.

Only completions are cached, never failures: a failed request is worth asking again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import orjson
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from synthloop.generate.llm.base import Backend, Completion, Request
from synthloop.store import tables as t

__all__ = ["RequestCache"]

_LOOKUP_CHUNK = 500  # keys per SELECT ... IN (...): well under SQLite's variable limit


class RequestCache:
    """Answers by request for one backend. `get_many` reads, `put` stages, `take` and `write`
    store what was staged inside the caller's transaction."""

    def __init__(self, engine: Engine | None, backend: Backend) -> None:
        """`engine` None: staging only (a worker of a distributed run, which never touches the
        store; its staged answers travel back to the run's one writer)."""
        self.engine = engine
        self.identity = backend.cache_identity().encode()
        self._staged: dict[str, bytes] = {}
        dialect = engine.dialect.name if engine is not None else ""
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._insert = (
            upsert(t.generation_cache).on_conflict_do_nothing(index_elements=["key"])
            if dialect in ("postgresql", "sqlite")
            else insert(t.generation_cache)
        )

    def key(self, request: Request) -> str:
        return hashlib.sha256(self.identity + b"\n" + request.render()).hexdigest()

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        """The cached completions among `keys` (staged ones included)."""
        wanted = list(dict.fromkeys(keys))
        found = {k: _load(self._staged[k]) for k in wanted if k in self._staged}
        rest = [k for k in wanted if k not in found]
        column = t.generation_cache.c
        if self.engine is None:
            return found
        with self.engine.connect() as conn:
            for start in range(0, len(rest), _LOOKUP_CHUNK):
                chunk = rest[start : start + _LOOKUP_CHUNK]
                query = select(column.key, column.completion).where(column.key.in_(chunk))
                found.update((k, _load(v.encode())) for k, v in conn.execute(query))
        return found

    def put(self, key: str, completion: Completion) -> None:
        self._staged[key] = _dump(completion)

    def stage(self, rows: Iterable[dict[str, str]]) -> None:
        """Stage rows another cache `take()`s (a worker's answers, back at the writer)."""
        self._staged.update((r["key"], r["completion"].encode()) for r in rows)

    @property
    def staged(self) -> int:
        return len(self._staged)

    def take(self) -> list[dict[str, str]]:
        """The staged answers as rows for `write`, no longer staged. Take them on the event loop,
        write them in a thread: staging goes on meanwhile without touching what is written."""
        rows = [{"key": k, "completion": v.decode()} for k, v in self._staged.items()]
        self._staged = {}
        return rows

    def write(self, conn: Connection, rows: list[dict[str, str]]) -> None:
        """Store `take()`'s rows inside `conn`'s transaction (an answer already stored stays)."""
        if rows:
            conn.execute(self._insert, rows)


def _dump(completion: Completion) -> bytes:
    # The raw response is left out: it can be large, and nothing reads it back.
    return orjson.dumps(
        {
            "text": completion.text,
            "finish_reason": completion.finish_reason,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "model": completion.model,
            "tokens_estimated": completion.tokens_estimated,
        }
    )


def _load(data: bytes) -> Completion:
    return Completion(raw=None, **orjson.loads(data))
