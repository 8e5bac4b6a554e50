"""Where an async handler's blocking store work runs: on the event loop for SQLite, in the
threadpool for other databases.

SQLite takes one writer at a time (the queue's writes queue on a lock first), so a thread per
request buys no parallel work there, only hand-offs of the GIL between threads: with 32
annotators, running the queue's calls in the threadpool cost ~40% more server CPU per annotation
than running them on the loop (bench/server.py). The price is that while a call waits, nothing
else in this worker runs: an import holding the SQLite write lock from another process stalls
the whole worker, not just the queue's requests. PostgreSQL runs transactions side by side, and
each statement is a network round trip to a server that may be far away, so there the wait
belongs in a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from synthloop.store.store import Store

__all__ = ["run_blocking"]

P = ParamSpec("P")
T = TypeVar("T")


async def run_blocking(store: Store, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`call(*args, **kwargs)`, which waits on `store`: directly on SQLite, else in a thread."""
    if store.engine.dialect.name == "sqlite":
        return call(*args, **kwargs)
    return await run_in_threadpool(call, *args, **kwargs)
