"""A `synthloop serve` subprocess on a free 127.0.0.1 port, for tests and benchmarks."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


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
