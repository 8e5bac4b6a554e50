"""The Ray runner against the local one, record by record (issue 8).

A real local Ray cluster (2 CPUs, started once for the module) runs generation batches and
curation shards; the same work runs locally into another store; every record must come out the
same: ids, fields, status, reason, curation details, provenance. The model is the ChatServer (a
real HTTP server), with prompts that always fail in set ways, so failed records are compared too.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import ray

import synthloop
from helpers import run_cli, write_jsonl
from synthloop.curate.run import curate
from synthloop.generate.llm.testing import ChatServer, Fault
from synthloop.generate.pipeline import generate
from synthloop.generate.recipe import Recipe
from synthloop.runners import RayRunner, shards

pytestmark = pytest.mark.slow

# 36 made-up words: random paragraphs of them share few word pairs by chance.
WORDS = [
    a + b
    for a in ("ri", "har", "lan", "or", "mea", "gra")
    for b in ("ver", "bour", "tern", "chard", "dow", "nite")
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayRunner]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield RayRunner()
    finally:
        ray.shutdown()


def test_shards_cover_every_item_once_in_order() -> None:
    items = list(range(10))
    assert [list(s) for s in shards(items, 3)] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert [list(s) for s in shards(items, 50)] == [[i] for i in items]
    assert [list(s) for s in shards([], 4)] == [[]]


# ------------------------------------------------------------------ curation


SETTINGS = {
    "fields": [{"name": "text", "type": "text"}],
    "questions": [{"name": "ok", "type": "label", "labels": ["yes", "no"]}],
}
EVAL = "which planet in our solar system has the longest day measured against its own year"


def _corpus() -> list[dict[str, Any]]:
    """1,200 paragraphs with planted exact and near copies, PII, French, short texts,
    refusals and an evaluation item, spread through the file."""
    rng = random.Random(8)
    rows = [
        {"id": f"p{i}", "text": " ".join(rng.choice(WORDS) for _ in range(40))} for i in range(1000)
    ]
    for i in range(60):
        words = rows[i * 7]["text"].split()
        words[rng.randrange(40)] = "changed"
        rows.append({"id": f"near{i}", "text": " ".join(words)})
    rows += [{"id": f"exact{i}", "text": rows[i * 11]["text"].upper()} for i in range(40)]
    rows += [
        {"id": f"mail{i}", "text": f"Write to person{i}@example.com about {rows[i]['text']}"}
        for i in range(30)
    ]
    french = "La bibliothèque fermera en mars pour des travaux, mais les membres pourront"
    rows += [{"id": f"fr{i}", "text": f"{french} emprunter {i} livres."} for i in range(20)]
    rows += [{"id": f"short{i}", "text": "ok"} for i in range(20)]
    refusal = "I'm sorry, but I can't help with that request because it goes against the rules."
    rows += [{"id": f"refuse{i}", "text": f"{refusal} ({i})"} for i in range(20)]
    rows += [{"id": "contam", "text": f"Quiz: {EVAL}? Answer in one sentence."}]
    rng.shuffle(rows)
    return rows


def _steps(folder: Path) -> list[dict[str, Any]]:
    evals = write_jsonl(folder / "eval.jsonl", [{"question": EVAL}])
    return [
        {"step": "rules"},
        {"step": "language", "allow": ["en"], "candidates": ["en", "fr", "de"]},
        {"step": "pii", "mode": "redact"},
        {"step": "decontaminate", "files": [str(evals)], "field": "question"},
        {"step": "dedup", "mode": "exact"},
        {"step": "dedup", "mode": "near", "threshold": 0.8},
    ]


def _outcomes(dataset: synthloop.Dataset) -> dict[str, tuple[Any, ...]]:
    return {
        str(r.external_id): (r.status, r.reason, r.fields, r.metadata.get("curation"))
        for r in dataset.records()
    }


def test_curation_on_ray_decides_every_record_as_the_local_runner(
    cluster: RayRunner, store: synthloop.Store, tmp_path: Path
) -> None:
    rows, steps = _corpus(), _steps(tmp_path)
    local_store = synthloop.open(tmp_path / "local.db")
    try:
        local = local_store.create_dataset("corpus", SETTINGS)
        local.add(rows)
        expected = curate(local_store, "corpus", steps)
        want = _outcomes(local)
    finally:
        local_store.close()
    spread = store.create_dataset("corpus", SETTINGS)
    spread.add(rows)

    report = curate(store, "corpus", steps, runner=cluster)

    assert _outcomes(spread) == want
    assert report.rejected == expected.rejected
    assert report.redacted == expected.redacted == 30
    # Every kind of decision was made, so the comparison covered each.
    assert set(report.rejected) >= {
        "too_short",
        "refusal",
        "language",
        "contaminated",
        "duplicate",
        "near_duplicate",
    }


# ------------------------------------------------------------------ generation


def _recipe(server: ChatServer, prompts: Path, **more: Any) -> Recipe:
    return Recipe.parse(
        {
            "dataset": "replies",
            "task": "responses",
            "source": {"file": str(prompts), "field": "prompt"},
            "backend": {
                "type": "openai",
                "base_url": server.base_url,
                "model": "any-model",
                "max_concurrency": 16,
                "timeout": 10,
            },
            "params": {"temperature": 0.7, "max_tokens": 16},
            "retries": {
                "max_retries": 1,
                "base_delay": 0.001,
                "max_delay": 0.01,
                "bad_response_retries": 0,
            },
            **more,
        }
    )


def _generated(dataset: synthloop.Dataset) -> dict[str, tuple[Any, ...]]:
    out = {}
    for r in dataset.records():
        prov = dict(r.provenance)
        out[str(r.external_id)] = (r.status, r.reason, r.fields, prov)
    return out


def test_generation_on_ray_writes_the_records_the_local_runner_writes(
    cluster: RayRunner, store: synthloop.Store, tmp_path: Path
) -> None:
    prompts = [{"prompt": f"Question number {i}?"} for i in range(300)]
    for i in range(0, 300, 25):  # twelve prompts the model always fails on, in two ways
        marker = "BROKEN" if i % 50 else "GARBLED"
        prompts[i] = {"prompt": f"Question number {i} {marker}?"}
    path = write_jsonl(tmp_path / "prompts.jsonl", prompts)
    poison = {"BROKEN": Fault("server_error", status=500), "GARBLED": Fault("invalid_json")}
    with ChatServer(poison=poison) as server:
        local_store = synthloop.open(tmp_path / "local.db")
        try:
            expected = generate(local_store, _recipe(server, path))
            want = _generated(local_store.dataset("replies"))
        finally:
            local_store.close()
        sent_locally = len(server.log)

        report = generate(store, _recipe(server, path), runner=cluster)
        again = generate(store, _recipe(server, path), runner=cluster)

    got = _generated(store.dataset("replies"))
    assert got == want
    assert len(got) == 300
    assert report.failed == expected.failed
    assert sum(report.failed.values()) == 12
    assert (report.ok, report.requests_sent) == (expected.ok, expected.requests_sent)
    assert len(server.log) == 2 * sent_locally  # the second Ray run sent nothing
    assert again.skipped == 300


def test_a_capped_run_on_ray_never_passes_its_token_cap(
    cluster: RayRunner, store: synthloop.Store, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "prompts.jsonl", [{"prompt": f"Question number {i}?"} for i in range(200)]
    )
    with ChatServer() as server:
        report = generate(store, _recipe(server, path), max_tokens=3_000, runner=cluster)
    dataset = store.dataset("replies")
    assert 0 < report.tokens <= 3_000
    assert report.ok + report.failed["budget_exhausted"] == 200
    assert report.failed["budget_exhausted"] > 0
    assert dataset.count(by="status") == {"pending": report.ok, "failed": 200 - report.ok}


def _judged(dataset: synthloop.Dataset) -> dict[str, tuple[Any, ...]]:
    return {
        str(r.external_id): (
            {q: (s.value, s.score, s.agent) for q, s in r.suggestions.items()},
            r.metadata.get("generation"),
        )
        for r in dataset.records()
    }


def test_judging_on_ray_writes_the_suggestions_the_local_runner_writes(
    cluster: RayRunner, store: synthloop.Store, tmp_path: Path
) -> None:
    """An annotating task: suggestions and rationales on existing records, not new records."""
    path = write_jsonl(
        tmp_path / "prompts.jsonl", [{"prompt": f"Question number {i}?"} for i in range(60)]
    )
    judge = {"task": "judge", "source": {}, "params": {"max_tokens": 128}}
    with ChatServer() as server:
        local_store = synthloop.open(tmp_path / "local.db")
        try:
            generate(local_store, _recipe(server, path))
            expected = generate(local_store, _recipe(server, path, **judge))
            want = _judged(local_store.dataset("replies"))
        finally:
            local_store.close()
        generate(store, _recipe(server, path), runner=cluster)
        report = generate(store, _recipe(server, path, **judge), runner=cluster)

    assert (report.ok, dict(report.failed)) == (expected.ok, {}) == (60, {})
    assert _judged(store.dataset("replies")) == want


# ------------------------------------------------------------------ the command line


def test_the_curate_command_on_ray_reports_what_the_local_runner_reports(
    tmp_path: Path,
) -> None:
    """`--runner ray` from the command line: its own local cluster, started and stopped by the
    command, and the same counts by reason as `--runner local` on a copy of the store."""
    rows = _corpus()
    dbs = [tmp_path / "local.db", tmp_path / "ray.db"]
    for db in dbs:
        store = synthloop.open(db)
        store.create_dataset("corpus", SETTINGS).add(rows)
        store.close()
    args = ["curate", "corpus", "--rules", "default", "--dedup", "near", "--json"]
    local = orjson.loads(run_cli(*args, "--db", str(dbs[0]), check=True).stdout)
    ray_args = [*args, "--db", str(dbs[1]), "--runner", "ray"]
    spread = orjson.loads(run_cli(*ray_args, timeout=300, check=True).stdout)

    assert spread["rejected"] == local["rejected"]
    assert spread["rejected"]["near_duplicate"] >= 60
    assert spread["kept"] == local["kept"]


def test_an_unknown_runner_is_refused_before_anything_runs(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = synthloop.open(db)
    store.create_dataset("corpus", SETTINGS).add(_corpus()[:10])
    store.close()
    done = run_cli("curate", "corpus", "--dedup", "exact", "--runner", "spark", "--db", str(db))
    assert done.returncode != 0
    assert "unknown runner 'spark'; choose local or ray" in done.stderr
    store = synthloop.open(db)
    assert store.dataset("corpus").count(by="status") == {"pending": 10}
    store.close()
