"""An import killed with SIGKILL half way through a file leaves the store as it was."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import synthloop
from helpers import dump, simple_row, write_jsonl

SEED = [
    simple_row(1, suggestions={"intent": {"value": "refund", "score": 0.5, "agent": "m"}}),
    simple_row(2, status="rejected", reason="off topic", metadata={"batch": 1}),
    simple_row(
        3,
        status="annotated",
        responses=[
            {"user": "ana", "values": {"intent": "other", "quality": 2}},
            {"user": "ben", "values": {"intent": "refund", "quality": 4}, "duration": 12.5},
        ],
    ),
]
POLL_LIMIT = 60.0  # seconds; a bound on every wait, never an assertion on time


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 25 MB of small records: long enough to be caught half way through."""
    path = tmp_path_factory.mktemp("kill") / "big.jsonl"
    with path.open("wb") as f:
        for start in range(0, 300_000, 10_000):
            f.write(
                b"".join(
                    orjson.dumps({"id": f"k-{i}", "text": f"question {i:06d} " * 3, "reply": "r"})
                    + b"\n"
                    for i in range(start, start + 10_000)
                )
            )
    return path


def _read_position(pid: int, path: Path) -> int | None:
    """How far process `pid` has read `path` (its fd's offset), or None if it has not opened it."""
    target = str(path.resolve())
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                fdinfo = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                return int(fdinfo.split("pos:")[1].split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def _kill_half_way(command: list[str], path: Path) -> int:
    """Run `command` and SIGKILL it once it has read a tenth of `path` (several batches of
    records written, uncommitted) but not all of it; return the offset it had reached."""
    size = path.stat().st_size
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + POLL_LIMIT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(
                    f"the import ended (exit {proc.returncode}) before it could be killed: "
                    f"{proc.stderr.read().decode() if proc.stderr else ''}"
                )
            position = _read_position(proc.pid, path)
            if position is not None and size // 10 < position < size:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=POLL_LIMIT)
                assert proc.returncode == -signal.SIGKILL, "the import finished before the kill"
                return position
            time.sleep(0.005)
        pytest.fail(f"the import did not get a tenth of the way through {path} in time")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=POLL_LIMIT)
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.slow
def test_an_import_killed_mid_file_leaves_the_store_as_it_was(
    db_url: str, settings: synthloop.Settings, big_file: Path, tmp_path: Path
) -> None:
    with synthloop.open(db_url) as store:
        dataset = store.create_dataset("support", settings)
        dataset.add(SEED)
        before = dump(dataset)

    command = [sys.executable, "-m", "synthloop", "import", "support", str(big_file)]
    position = _kill_half_way([*command, "--db", db_url], big_file)
    assert 0 < position < big_file.stat().st_size

    if not db_url.startswith("postgresql"):
        with sqlite3.connect(db_url) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()
    with synthloop.open(db_url) as store:
        dataset = store.dataset("support")
        assert dataset.count() == len(SEED)
        assert dump(dataset) == before
        # the store still works: the killed import's ids are free to import now
        more = write_jsonl(tmp_path / "more.jsonl", [simple_row(i) for i in range(4, 8)])
        assert dataset.import_file(more).added == 4
        small = write_jsonl(tmp_path / "again.jsonl", [{"id": "k-5", "text": "t", "reply": "r"}])
        assert dataset.import_file(small).added == 1
        assert dataset.count() == len(SEED) + 5
