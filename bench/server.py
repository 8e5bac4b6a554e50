"""Annotation throughput over real HTTP: annotators loop next -> submit against a
`synthloop serve` subprocess. Prints annotations/s and p50/p99 latency of one annotation (one
next + one submit) with 1, 8 and 32 concurrent annotators. Figures only, never pass/fail.

    .venv/bin/python bench/server.py [--records 600] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "server"))

from live import serve

import synthloop
from synthloop.accounts import assign, create_user
from synthloop.demo import SETTINGS
from synthloop.server.queue import enqueue


def prepare(db: str, records: int, annotators: int) -> list[str]:
    settings = synthloop.Settings.loads(SETTINGS)
    settings = settings.model_copy(
        update={"distribution": settings.distribution.model_copy(update={"overlap": 3})}
    )
    with synthloop.open(db) as store:
        dataset = store.create_dataset("bench", settings)
        dataset.add({"id": f"r{i}", "text": f"order {i}?", "reply": "soon"} for i in range(records))
        enqueue(dataset)
        tokens = [create_user(store, f"u{i}", "annotator").token for i in range(annotators)]
        assign(store, "bench", [f"u{i}" for i in range(annotators)])
    return tokens


def annotate(url: str, token: str, per_user: int, latencies: list[float]) -> None:
    with synthloop.Client(url, token) as client:
        dataset = client.dataset("bench")
        for _ in range(per_user):
            start = time.perf_counter()
            record = dataset.next()
            if record is None:
                return
            client.submit(record["id"], {"intent": "refund", "quality": 4})
            latencies.append(time.perf_counter() - start)


def run(db: str, annotators: int, records: int, log: Path) -> str:
    tokens = prepare(db, records, annotators)
    per_user = records * 3 // annotators
    latencies: list[float] = []
    with serve(db, log) as url:
        threads = [
            threading.Thread(target=annotate, args=(url, tok, per_user, latencies))
            for tok in tokens
        ]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100)
    return (
        f"{annotators:>3} annotators: {len(latencies):>5} annotations in {elapsed:6.2f} s = "
        f"{len(latencies) / elapsed:7.1f}/s   p50 {cuts[49] * 1000:6.1f} ms   "
        f"p99 {cuts[98] * 1000:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument("--postgres", help="a PostgreSQL URL (an empty database) to run on too")
    args = parser.parse_args()
    print(f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"{args.records} queued records, overlap 3, one server worker, client threads in-process")
    with tempfile.TemporaryDirectory() as tmp:
        for annotators in (1, 8, 32):
            db = str(Path(tmp) / f"bench-{annotators}.db")
            print("sqlite  ", run(db, annotators, args.records, Path(tmp) / "server.log"))


if __name__ == "__main__":
    main()
