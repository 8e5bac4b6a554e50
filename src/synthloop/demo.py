"""The main job on embedded defaults: SQLite, no model, no network.

Today it runs the foundation end to end: create a dataset from settings, import records (with
machine suggestions and annotator responses), import again to show nothing is added twice, count
by status and source, and export JSONL and Parquet. Later stages grow it into the full loop.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from synthloop.settings import Settings
from synthloop.store.store import open_store

__all__ = ["SETTINGS", "run", "sample_rows"]

SETTINGS = """\
guidelines: |
  Label the customer's intent, then rate the reply.
fields:
  - {name: text, type: text}
  - {name: reply, type: markdown}
  - {name: conversation, type: chat, required: false}
questions:
  - {name: intent, type: label, labels: [refund, delivery, account, other]}
  - {name: topics, type: multi_label, labels: [billing, shipping, login], required: false}
  - {name: quality, type: rating, values: [1, 2, 3, 4, 5]}
  - {name: better, type: ranking, options: [reply, alternative], required: false}
  - {name: corrected_reply, type: text, prefill: reply, required: false}
  - {name: claims, type: span, field: reply, labels: [unsupported, wrong], required: false}
distribution: {overlap: 2}
"""

_ASKS = {
    "refund": ["I want my money back for order {n}", "Please refund the charge on order {n}"],
    "delivery": ["Where is my parcel {n}?", "Order {n} has not arrived yet"],
    "account": ["I cannot log in to account {n}", "How do I change the email on account {n}?"],
    "other": ["Do you sell gift cards?", "What are your opening hours on day {n}?"],
}
_REPLIES = {
    "refund": "We have started a refund for order {n}; it reaches your card in 5 days.",
    "delivery": "Parcel {n} left our depot yesterday and should arrive tomorrow.",
    "account": "Use *Forgot password* on the sign-in page to reset access to account {n}.",
    "other": "Thanks for asking! Our help centre lists everything we offer.",
}


def sample_rows(count: int = 300, seed: int = 0) -> list[dict[str, Any]]:
    """Deterministic support messages; some carry a model's pre-label, some two annotators'
    answers, and a few repeat an earlier message's content."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(count):
        intent = rng.choice(list(_ASKS))
        n = rng.randint(1000, 9999)
        fields = {
            "text": rng.choice(_ASKS[intent]).format(n=n),
            "reply": _REPLIES[intent].format(n=n),
        }
        row: dict[str, Any] = {
            "fields": fields,
            "metadata": {"channel": rng.choice(["chat", "mail"])},
        }
        if i % 3 == 0:
            guess = intent if rng.random() < 0.8 else rng.choice(list(_ASKS))
            row["suggestions"] = {
                "intent": {"value": guess, "score": round(rng.random(), 2), "agent": "demo-rules"}
            }
        if i % 10 == 0:
            row["responses"] = [_response(user, intent, rng) for user in ("ana", "ben")]
            row["status"] = "annotated"
        rows.append(row)
    rows += [dict(rows[i]) for i in range(0, count, 50)]  # repeats: counted, not added twice
    return rows


def _response(user: str, intent: str, rng: random.Random) -> dict[str, Any]:
    return {
        "user": user,
        "values": {"intent": intent, "quality": rng.randint(3, 5)},
        "status": "submitted",
        "duration": round(rng.uniform(4, 30), 1),
    }


def run(directory: Path, log: Callable[[str], object] | None = print) -> dict[str, Any]:
    """Run the demo into `directory` (emptied first) and return what it did."""
    say = log or (lambda _line: None)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    source = directory / "support-input.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in sample_rows()))

    store = open_store(directory / "synthloop.db")
    dataset = store.create_dataset("support", Settings.loads(SETTINGS, "demo settings"))
    say(f"created dataset 'support' in {store.url}")
    first = dataset.import_file(source)
    say(
        f"imported {first.added} records from {first.rows} rows "
        f"({first.repeated} rows repeated earlier content and were not added twice)"
    )
    again = dataset.import_file(source)
    say(f"imported the same file again: {again.added} added, {again.existing} already present")
    by_status, by_source = dataset.count(by="status"), dataset.count(by="source")
    say(f"records by status: {by_status}; by source: {by_source}")
    exports = {fmt: directory / f"support.{fmt}" for fmt in ("jsonl", "parquet")}
    for path in exports.values():
        say(f"exported {dataset.export(path)} records to {path}")
    store.close()
    return {
        "store": str(directory / "synthloop.db"),
        "import": first.to_dict(),
        "reimport": again.to_dict(),
        "by_status": by_status,
        "by_source": by_source,
        "exports": {k: str(v) for k, v in exports.items()},
    }
