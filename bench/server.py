"""Annotation throughput over real HTTP: annotators loop next -> submit against a
`synthloop serve` subprocess. Prints annotations/s, the p50/p99 latency of one annotation (one
next + one submit, as the client sees it) and of one HTTP request (a next or a submit alone) with
1, 8 and 32 concurrent annotators, for each --workers count (uvicorn worker processes), on SQLite
and, with --postgres, on PostgreSQL. Figures only, never pass/fail.

    .venv/bin/python bench/server.py [--records 600] [--postgres URL] [--workers 1 2]
                                     [--load asyncio|threads]

The load is closed loop with no think time: each annotator asks for its next record, submits an
answer as soon as it arrives, and asks again, until the server has nothing left for it (204).
`asyncio` (the default) runs every annotator in this one process as a keep-alive HTTP/1.1
connection written and read with plain asyncio streams, so the load generator takes little of
the CPU it shares with the server; `threads` runs one thread per annotator with
synthloop.Client (httpx), the way a Python caller would, which costs the generator several
times more CPU. Server CPU per annotation is read from /proc for the server process and its
workers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson
from sqlalchemy import create_engine, text

import synthloop
from synthloop.accounts import assign, create_user
from synthloop.demo import SETTINGS
from synthloop.server.queue import enqueue

# The same server launcher the tests use (tests/server is not a package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "server"))
from live import serve_process

OVERLAP = 3
ANSWER = {"values": {"intent": "refund", "quality": 4}}
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class Latencies:
    """Seconds, as the client saw them: per annotation (next + submit) and per HTTP request."""

    annotations: list[float] = field(default_factory=list)
    requests: list[float] = field(default_factory=list)


def prepare(db: str, records: int, annotators: int) -> list[str]:
    settings = synthloop.Settings.loads(SETTINGS)
    settings = settings.model_copy(
        update={"distribution": settings.distribution.model_copy(update={"overlap": OVERLAP})}
    )
    with synthloop.open(db) as store:
        dataset = store.create_dataset("bench", settings)
        dataset.add({"id": f"r{i}", "text": f"order {i}?", "reply": "soon"} for i in range(records))
        enqueue(dataset)
        tokens = [create_user(store, f"u{i}", "annotator").token for i in range(annotators)]
        assign(store, "bench", [f"u{i}" for i in range(annotators)])
    return tokens


# ---------------------------------------------------------------- asyncio load


class _Connection:
    """One annotator's keep-alive HTTP/1.1 connection; just enough HTTP for this API's replies
    (a status line, headers with Content-Length, a body)."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.auth = f"Authorization: Bearer {token}\r\nHost: {self.host}\r\n"

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\n{self.auth}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding":
                raise AssertionError(f"unexpected {line!r}: this client reads Content-Length only")
        reply = await self.reader.readexactly(length) if length else b""
        if status >= 400:
            raise AssertionError(f"{method} {path}: HTTP {status}: {reply.decode()}")
        return status, reply

    def close(self) -> None:
        self.writer.close()


async def _annotator(url: str, token: str, latencies: Latencies) -> None:
    conn = _Connection(url, token)
    await conn.open()
    answer = orjson.dumps(ANSWER)
    try:
        while True:
            start = time.perf_counter()
            status, reply = await conn.request("GET", "/api/datasets/bench/next")
            got = time.perf_counter()
            if status == 204:
                return
            record_id = orjson.loads(reply)["id"]
            await conn.request("POST", f"/api/records/{record_id}/responses", answer)
            end = time.perf_counter()
            latencies.annotations.append(end - start)
            latencies.requests += [got - start, end - got]
    finally:
        conn.close()


def asyncio_load(url: str, tokens: list[str], latencies: Latencies) -> None:
    async def everyone() -> None:
        await asyncio.gather(*(_annotator(url, token, latencies) for token in tokens))

    asyncio.run(everyone())


# ---------------------------------------------------------------- threads load


def _thread_annotator(url: str, token: str, latencies: Latencies) -> None:
    with synthloop.Client(url, token) as client:
        dataset = client.dataset("bench")
        while True:
            start = time.perf_counter()
            record = dataset.next()
            got = time.perf_counter()
            if record is None:
                return
            client.submit(record["id"], ANSWER["values"])
            end = time.perf_counter()
            latencies.annotations.append(end - start)  # list.append is atomic under the GIL
            latencies.requests.extend((got - start, end - got))


def threads_load(url: str, tokens: list[str], latencies: Latencies) -> None:
    threads = [
        threading.Thread(target=_thread_annotator, args=(url, token, latencies)) for token in tokens
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


LOADS: dict[str, Callable[[str, list[str], Latencies], None]] = {
    "asyncio": asyncio_load,
    "threads": threads_load,
}


# ---------------------------------------------------------------- the server


@contextmanager
def serve(db: str, log: Path, workers: int) -> Iterator[tuple[str, int]]:
    """`synthloop serve` on a free port until the block ends: (base URL, process id)."""
    with serve_process(db, log, workers, wait=60) as (url, server):
        yield url, server.pid


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its running descendants (uvicorn's
    workers are children of the server process); Linux, 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / _TICKS
    return own + sum(_cpu_seconds(int(child)) for child in children)


# ---------------------------------------------------------------- one row


def run(db: str, annotators: int, records: int, load: str, workers: int, log: Path) -> str:
    tokens = prepare(db, records, annotators)
    latencies = Latencies()
    with serve(db, log, workers) as (url, pid):
        server_cpu, own_cpu = _cpu_seconds(pid), time.process_time()
        start = time.perf_counter()
        LOADS[load](url, tokens, latencies)
        elapsed = time.perf_counter() - start
        server_cpu, own_cpu = _cpu_seconds(pid) - server_cpu, time.process_time() - own_cpu
    done = len(latencies.annotations)
    expected = records * min(annotators, OVERLAP)
    per_annotation = statistics.quantiles(latencies.annotations, n=100)
    per_request = statistics.quantiles(latencies.requests, n=100)
    return (
        f"{workers} worker{'s' if workers > 1 else ' '} {annotators:>3} annotators: {done:>5} "
        f"annotations in {elapsed:6.2f} s = {done / elapsed:6.1f}/s   per annotation "
        f"p50 {per_annotation[49] * 1000:5.1f} ms p99 {per_annotation[98] * 1000:5.1f} ms   "
        f"per request p50 {per_request[49] * 1000:5.1f} ms p99 {per_request[98] * 1000:5.1f} ms"
        f"   CPU per annotation: server {server_cpu / done * 1000:4.2f} ms, "
        f"load {own_cpu / done * 1000:4.2f} ms"
        + ("" if done == expected else f"   (expected {expected} annotations!)")
    )


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema in the PostgreSQL database at `url`, dropped afterwards: the URL to it."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    joiner = "&" if "?" in url else "?"
    try:
        yield f"{url}{joiner}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also run on this PostgreSQL database, e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test (each run in a fresh schema)",
    )
    parser.add_argument("--load", choices=sorted(LOADS), default="asyncio")
    parser.add_argument("--annotators", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="uvicorn worker processes (synthloop serve --workers); a row per count",
    )
    args = parser.parse_args()
    print(f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    how = {
        "asyncio": "one keep-alive HTTP/1.1 connection per annotator on plain asyncio streams",
        "threads": "one thread per annotator with synthloop.Client (httpx)",
    }[args.load]
    print(
        f"{args.records} queued records, overlap {OVERLAP}, `synthloop serve --workers N` "
        "(uvicorn worker processes).\n"
        f"Load: {how}, all in this one process on the same machine; closed loop (next, "
        "submit, next ...; no think time).\nLatency as the client sees it: per annotation = "
        "one next + one submit; per request = one HTTP request (a next or a submit).\n"
        "Little's law: with N closed-loop annotators, mean latency per annotation = "
        "N / throughput."
    )
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        for n, workers in enumerate(args.workers):
            for annotators in args.annotators:
                db = str(Path(tmp) / f"bench-{n}-{workers}-{annotators}.db")
                row = run(db, annotators, args.records, args.load, workers, log)
                print("sqlite  ", row, flush=True)
        if args.postgres:
            for workers in args.workers:
                for annotators in args.annotators:
                    with postgres_schema(args.postgres) as db:
                        row = run(db, annotators, args.records, args.load, workers, log)
                        print("postgres", row, flush=True)


if __name__ == "__main__":
    main()
