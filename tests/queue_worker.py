"""A worker process for the queue's concurrency test: annotators (one thread each) lease and
submit until nothing is left, then print the (record id, user) of every submit that returned.

    python queue_worker.py DB DATASET USER [USER ...]
"""

from __future__ import annotations

import sys
import threading

import orjson

import synthloop
from synthloop.server.queue import lease_next, submit


def annotate(dataset: synthloop.Dataset, user: str, bound: int, done: list[list[object]]) -> None:
    for _ in range(bound):  # bounded: a bug must fail the test, not hang it
        record = lease_next(dataset, user)
        if record is None:
            return
        assert record.id is not None
        submit(dataset, record.id, user, {"intent": "refund", "quality": 4})
        done.append([record.id, user])
    raise AssertionError(f"{user} still had work after {bound} records")


def main() -> None:
    db, name, *users = sys.argv[1:]
    with synthloop.open(db) as store:
        dataset = store.dataset(name)
        bound = dataset.count() + 5
        done: list[list[object]] = []
        threads = [threading.Thread(target=annotate, args=(dataset, u, bound, done)) for u in users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    sys.stdout.write(orjson.dumps(done).decode())


if __name__ == "__main__":
    main()
