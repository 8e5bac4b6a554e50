"""A generation run killed with SIGKILL part way through, then started again: the second run
finishes the dataset, and no request behind a record stored before the kill is sent again.

Records and the cache entries of their answers are written in one transaction per batch
(`generate.writer`), so every record that survived the kill has its answer in the store and
the unit is skipped. The chat-completions server runs in a process of its own and logs every
request it receives to a file by the digest of its body, so the log covers both runs and the
killed client. Every wait is bounded; nothing asserts on time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.exc import DBAPIError

import synthloop
from helpers import read_jsonl, write_jsonl
from synthloop.generate.llm.openai import OpenAIBackend
from synthloop.generate.llm.testing import request_digest
from synthloop.generate.recipe import Recipe
from synthloop.generate.setup import prepare
from synthloop.store import tables as t
from synthloop.store.engine import resolve_url

N = 400
KILL_AT = N // 4  # stored records before the kill
POLL_LIMIT = 120.0  # seconds; a bound on every wait, never an assertion on time
RECIPE = """\
dataset: replies
task: responses
source: {{file: prompts.jsonl, field: prompt}}
backend: {{type: openai, base_url: "{base_url}", model: resume-model, max_concurrency: 8}}
params: {{temperature: 0.7, max_tokens: 32}}
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The chat server in a process of its own: (base URL, its request log)."""
    log = tmp_path / "requests.jsonl"
    command = [sys.executable, "-m", "synthloop.generate.llm.testing", "--latency", "0.05"]
    proc = subprocess.Popen([*command, "--log", str(log)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://"), f"the server printed {base_url!r}, not its URL"
        yield base_url, log
    finally:
        proc.terminate()
        proc.wait(timeout=POLL_LIMIT)
        if proc.stdout:
            proc.stdout.close()


def _write_recipe(folder: Path, base_url: str) -> Path:
    write_jsonl(folder / "prompts.jsonl", [{"prompt": f"Answer question {i}."} for i in range(N)])
    path = folder / "recipe.yaml"
    path.write_text(RECIPE.format(base_url=base_url), encoding="utf-8")
    return path


def _stored(db_url: str) -> list[str]:
    """The record ids stored so far (none while the store is still being created), read on a
    connection of its own; a SQLite file is opened read-only, so polling never creates it."""
    url = resolve_url(db_url)
    if url.startswith("sqlite:///"):
        url = f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(t.records.c.external_id)))
    except DBAPIError:  # no database or no records table yet
        return []
    finally:
        engine.dispose()


def _kill_part_way(command: list[str], db_url: str) -> list[str]:
    """Run `command`, SIGKILL it once KILL_AT records are stored; the ids stored at the kill."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + POLL_LIMIT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                stderr = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the run ended (exit {proc.returncode}) before the kill: {stderr}")
            if len(_stored(db_url)) >= KILL_AT:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=POLL_LIMIT)
                assert proc.returncode == -signal.SIGKILL, "the run finished before the kill"
                return _stored(db_url)
            time.sleep(0.01)
        pytest.fail(f"the run did not store {KILL_AT} records in time")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=POLL_LIMIT)
        if proc.stderr:
            proc.stderr.close()


def _digests(recipe_path: Path, scratch: Path) -> dict[str, str]:
    """Each unit's key -> the server's digest of its request, as the run renders them (the
    plan of a throwaway store, which holds nothing, so every unit is to do)."""
    recipe = Recipe.load(recipe_path)
    with synthloop.open(scratch) as store:
        plan = prepare(store, recipe, retry_failed=False)
    assert isinstance(plan.backend, OpenAIBackend)
    assert all(len(unit.requests) == 1 for unit in plan.todo)
    return {u.key: request_digest(plan.backend.body(u.requests[0])) for u in plan.todo}


@pytest.mark.slow
def test_a_run_killed_part_way_resumes_without_sending_stored_requests_again(
    db_url: str, server: tuple[str, Path], tmp_path: Path
) -> None:
    base_url, log = server
    recipe = _write_recipe(tmp_path, base_url)
    command = [sys.executable, "-m", "synthloop", "generate", str(recipe), "--db", db_url]

    before = _kill_part_way(command, db_url)
    assert KILL_AT <= len(before) < N, f"{len(before)} records stored at the kill"

    second = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, timeout=POLL_LIMIT, check=False
    )
    assert second.returncode == 0, second.stderr
    report: dict[str, Any] = orjson.loads(second.stdout)

    with synthloop.open(db_url) as store:
        dataset = store.dataset("replies")
        records = list(dataset.records())
    ids = [str(r.external_id) for r in records]
    assert len(ids) == N
    assert len(set(ids)) == N
    assert Counter(r.status for r in records) == {"pending": N}
    assert set(before) <= set(ids)

    digests = _digests(recipe, tmp_path / "scratch.db")
    assert set(digests) == set(ids)
    assert len(set(digests.values())) == N  # one digest names one record's request
    sent = Counter(entry["digest"] for entry in read_jsonl(log))
    answered = Counter(entry["digest"] for entry in read_jsonl(log) if entry["outcome"] == "ok")
    assert {key: sent[digests[key]] for key in before} == dict.fromkeys(before, 1)
    assert {key: answered[digests[key]] for key in before} == dict.fromkeys(before, 1)
    assert all(answered[digests[key]] >= 1 for key in ids)

    assert report["units"] == N
    assert report["skipped"] == len(before)
    assert report["ok"] == N - len(before)
    assert report["failed"] == {}
    assert report["requests_sent"] + report["cache_hits"] == N - report["skipped"]
    # what the second run sent, the server received: the log's total is both runs' requests
    assert sum(sent.values()) >= report["requests_sent"] + len(before)
