"""`synthloop demo` without --simulate: it serves the web UI on a real port, prints the URL and
the demo logins, waits while people annotate the routed records, then finishes the loop.

The people here are the test: it fetches the served login page, then answers the queue as the
demo's annotators through the queue library (the same functions the API calls); the pages
themselves are tested with a browser in tests/browser."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import synthloop
from synthloop import demo_data
from synthloop.demo_loop import DEMO_USERS
from synthloop.server.queue import lease_next, submit

pytestmark = pytest.mark.slow
DEADLINE = 120.0  # a bound on every wait, never an assertion on time


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_demo_waits_for_people_then_finishes(tmp_path: Path) -> None:
    folder, port = tmp_path / "demo", _free_port()
    command = [sys.executable, "-m", "synthloop", "demo", "--dir", str(folder), "--port", str(port)]
    demo = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert demo.stdout is not None
        url, seen = None, []
        began = time.monotonic()
        while url is None and time.monotonic() - began < DEADLINE:
            line = demo.stdout.readline()
            seen.append(line)
            found = re.search(r"annotate at (http://127\.0\.0\.1:\d+/)", line)
            url = found.group(1) if found else None
        assert url is not None, "".join(seen)
        assert "ana / ana-demo-pass" in seen[-1]
        login = _get(url + "login")
        assert login.status_code == 200
        assert "password" in login.text.lower()
        _answer_the_queue(folder / "synthloop.db")
        out, _ = demo.communicate(timeout=DEADLINE)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, out
    assert "by people through the web UI" in out
    assert (folder / "audit.html").is_file()
    for fmt in ("sft", "dpo", "classification"):
        assert (folder / "exports" / fmt / "train.jsonl").is_file()


def _get(url: str) -> httpx.Response:
    began = time.monotonic()
    while True:
        try:
            return httpx.get(url, timeout=10)
        except httpx.TransportError:
            if time.monotonic() - began > DEADLINE:
                raise
            time.sleep(0.2)


def _answer_the_queue(db: Path) -> None:
    """Ana and Ben take turns until neither is served anything: the right intent, and a better
    reply where the candidate is poor (as the demo's reviewers would)."""
    rows = [*demo_data.seed_rows(), *demo_data.generated_rows()]
    gold, review = demo_data.gold_intents(rows), demo_data.reviewer(rows)
    with synthloop.open(db) as store:
        dataset = store.dataset("support")
        people = [u for u in DEMO_USERS if u != "owner"]
        idle: set[str] = set()
        while len(idle) < len(people):
            for user in people:
                record = lease_next(dataset, user)
                if record is None:
                    idle.add(user)
                    continue
                values = {"intent": gold[str(record.external_id)], **review(record, user)}
                submit(dataset, int(record.id or 0), user, values)
