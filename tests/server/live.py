"""A `synthloop serve` subprocess on a free 127.0.0.1 port, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select

import synthloop
from synthloop.store import tables as t


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(db: str, log: Path, workers: int = 1, wait: float = 30.0) -> Iterator[str]:
    """Run the server until the block ends; yields its base URL once it answers."""
    with serve_process(db, log, workers, wait) as (url, _):
        yield url


@contextmanager
def serve_process(
    db: str, log: Path, workers: int = 1, wait: float = 30.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """As `serve`, yielding the process too (bench/server.py reads its CPU time)."""
    port = free_port()
    command = [sys.executable, "-m", "synthloop", "serve", "--db", db, "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen([*command, "--workers", str(workers)], stdout=out, stderr=out)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(server, url, wait, log)
            yield url, server
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_up(server: subprocess.Popen[bytes], url: str, wait: float, log: Path) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"server exited {server.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/metrics", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"server did not answer within {wait} s: {log.read_text()}")


# Only a stuck server or client reaches this; never a time assertion.
HANG_GUARD = 600.0


async def annotate(
    url: str, token: str, answer: dict[str, object], bound: int, dataset: str = "support"
) -> list[tuple[int, str]]:
    """One annotator over HTTP: next, submit, until nothing is left (at most `bound` rounds);
    the (record, user) pairs acknowledged."""
    acked: list[tuple[int, str]] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
        for _ in range(bound + 1):  # bounded: the last round finds nothing left
            reply = await http.get(f"/api/datasets/{dataset}/next")
            if reply.status_code == 204:
                return acked
            assert reply.status_code == 200, reply.text
            record_id = reply.json()["id"]
            stored = await http.post(f"/api/records/{record_id}/responses", json={"values": answer})
            assert stored.status_code == 200, stored.text
            acked.append((record_id, stored.json()["user"]))
    raise AssertionError("an annotator still had work after answering every record")


def crowd(
    url: str, tokens: dict[str, str], answer: dict[str, object], bound: int
) -> list[tuple[int, str]]:
    """Every annotator at once; all the (record, user) pairs acknowledged. The crowd's event loop
    runs in a thread of its own: a sync Playwright session (the browser tests, in the same pytest
    run) keeps a loop running in the main thread, where asyncio.run would refuse."""
    with ThreadPoolExecutor(1) as loop_thread:
        return loop_thread.submit(lambda: asyncio.run(_crowd(url, tokens, answer, bound))).result()


async def _crowd(
    url: str, tokens: dict[str, str], answer: dict[str, object], bound: int
) -> list[tuple[int, str]]:
    everyone = asyncio.gather(*(annotate(url, tok, answer, bound) for tok in tokens.values()))
    answered = await asyncio.wait_for(everyone, HANG_GUARD)
    return [pair for pairs in answered for pair in pairs]


def stored_responses(db: str) -> list[tuple[int, str, str]]:
    """Every response in the store as (record id, username, status)."""
    query = select(t.responses.c.record_id, t.users.c.username, t.responses.c.status).join(
        t.users, t.users.c.id == t.responses.c.user_id
    )
    with synthloop.open(db) as store, store.engine.connect() as conn:
        return [(int(r[0]), str(r[1]), str(r[2])) for r in conn.execute(query)]
