"""Rows and files for the tests: small rows, rich rows holding everything a record can hold,
JSONL in and out, and the command line as a real process."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

import synthloop

# ../shared/ beside the repository: third-party benchmark data, never copied into the repo.
SHARED = Path(os.environ.get("SYNTHLOOP_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def shared_path(relative: str) -> Path:
    """A file or folder under ../shared/; skip when it is absent, but fail under CI=true."""
    path = SHARED / relative
    if not path.exists():
        problem = f"{path} is absent (shared benchmark data)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{problem}; CI=true: the benchmark cases must run")
        pytest.skip(problem)
    return path


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """`synthloop ARGS` in a process of its own, output captured; SYNTHLOOP_DB from the
    environment left out, so a test's `--db` is the only store it can touch."""
    environ = {k: v for k, v in os.environ.items() if k != "SYNTHLOOP_DB"}
    return subprocess.run(
        [sys.executable, "-m", "synthloop", *args],
        capture_output=True,
        text=True,
        env={**environ, **(env or {})},
        timeout=timeout,
        check=check,
    )


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def dump(dataset: synthloop.Dataset, **filters: Any) -> list[dict[str, Any]]:
    """Everything the dataset holds, as the nested rows export writes."""
    return [r.to_dict() for r in dataset.records(**filters)]


def simple_row(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"s-{i}", "text": f"message {i}", "reply": f"reply {i}", **extra}


_INTENTS = ["refund", "delivery", "account", "other"]
_TOPICS = ["billing", "shipping", "login"]
_STATUSES = ["pending", "accepted", "queued", "annotated", "disputed", "rejected", "failed"]


def rich_row(i: int, rng: random.Random) -> dict[str, Any]:
    """A complete nested row (every key present, in the shape export writes) for record i."""
    reply = f"**Order {i}**: we refunded ünïcödé €{i % 97}.\n\n- step one\n- step two 🚚"
    status = _STATUSES[i % len(_STATUSES)]
    fields: dict[str, Any] = {
        "text": f"Customer {i} asks: where is my money? «{i}»",
        "reply": reply,
    }
    if i % 2:
        fields["conversation"] = [
            {"role": "user", "content": f"hi, order {i}"},
            {"role": "assistant", "content": "Hello! How can I help?\nTell me more."},
        ]
    span_end = rng.randint(2, len(reply))
    suggestions = {
        "intent": {"value": _INTENTS[i % 4], "score": round(rng.random(), 4), "agent": "gpt-x"},
        "quality": {"value": rng.randint(1, 5), "score": None, "agent": "judge-v2"},
        "claims": {
            "value": [{"start": 0, "end": span_end, "label": "unsupported"}],
            "score": 0.5,
            "agent": None,
        },
    }
    if i % 3 == 0:
        suggestions["topics"] = {"value": _TOPICS[: 1 + i % 3], "score": 0.25, "agent": "tagger"}
        suggestions["better"] = {"value": ["alternative", "reply"], "score": 1, "agent": "rm"}
    responses = []
    if i % 4 != 1:
        responses = [
            {
                "user": "ana",
                "values": {
                    "intent": _INTENTS[(i + 1) % 4],
                    "quality": 1 + i % 5,
                    "corrected_reply": reply.replace("refunded", "will refund"),
                    "claims": [{"start": 1, "end": 3, "label": "wrong"}],
                    "better": ["reply", "alternative"],
                },
                "status": "submitted",
                "duration": round(rng.uniform(1, 90), 2),
            },
            {
                "user": "ben" if i % 5 else f"ben-{i % 7}",
                "values": {"intent": "other"} if i % 6 == 0 else {"intent": "refund", "quality": 5},
                "status": "draft" if i % 6 == 0 else "submitted",
                "duration": None,
            },
        ]
    reason = {"rejected": "near-duplicate of r-1", "failed": "model timed out"}.get(status)
    return {
        "id": f"r-{i:05d}",
        "fields": fields,
        "metadata": {
            "lang": "en",
            "n": i,
            "ratio": i / 7,
            "flags": [True, False, None],
            "nested": {"tier": "gold" if i % 2 else "free", "tags": ["a", "b"][: i % 3]},
        },
        "provenance": {
            "source": ["synthetic", "synthetic", "human", "imported"][i % 4],
            "model": "llama-3-70b",
            "task": "qa-from-docs",
            "prompt_version": i % 3,
            "round": 2,
            "cost": round(i * 0.00013, 6),
            "parent": f"r-{i - 1:05d}" if i else None,
        },
        "status": status,
        "reason": reason,
        "priority": round(rng.uniform(-5, 5), 3),
        "suggestions": suggestions,
        "responses": responses,
        "final": {"intent": _INTENTS[i % 4], "quality": 4} if status == "accepted" else None,
    }


def rich_rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [rich_row(i, rng) for i in range(count)]
