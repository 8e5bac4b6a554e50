"""The progress bar of `synthloop generate`: shown in a terminal (a real pseudo-terminal here),
with records done, rate, errors and cost; absent when the output is not a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import orjson

from synthloop.generate.llm.testing import ChatServer


def _recipe(tmp_path: Path, base_url: str, count: int) -> Path:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_bytes(b"".join(orjson.dumps({"prompt": f"p{i}"}) + b"\n" for i in range(count)))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "dataset: replies\ntask: responses\nsource: {file: prompts.jsonl, field: prompt}\n"
        f"backend: {{type: openai, base_url: '{base_url}', model: m, max_concurrency: 4}}\n",
        encoding="utf-8",
    )
    return recipe


def _in_terminal(args: list[str]) -> str:
    """Run a command with a pseudo-terminal as stdout and stderr; return all it wrote."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "SYNTHLOOP_DB"}
    env.update(COLUMNS="160", TERM="xterm")
    process = subprocess.Popen(args, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=120) == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_sees_rate_errors_and_cost(tmp_path: Path) -> None:
    with ChatServer(latency=0.05) as server:
        recipe = _recipe(tmp_path, server.base_url, 120)  # ~1.5 s at 4 in flight
        db = str(tmp_path / "s.db")
        shown = _in_terminal(
            [sys.executable, "-m", "synthloop", "generate", str(recipe), "--db", db]
        )
    assert "generating" in shown
    assert "rec/s" in shown
    assert "errors 0" in shown
    assert "$0.0000" in shown
    assert "records ok (pending)" in shown  # the summary after the bar


def test_no_bar_when_not_a_terminal(tmp_path: Path) -> None:
    with ChatServer() as server:
        recipe = _recipe(tmp_path, server.base_url, 10)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "synthloop",
                "generate",
                str(recipe),
                "--db",
                str(tmp_path / "s.db"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    assert "generating" not in done.stderr
    assert "records ok (pending)" in done.stdout
