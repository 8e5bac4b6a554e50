"""The hybrid loop, round after round, with simulated annotators: generation (the fake backend,
not a model), routing under a budget, annotation through the real queue, decisions, a version
per round, and round k's accepted outputs carried into round k+1's prompts as examples."""

from __future__ import annotations

from pathlib import Path

import synthloop
from helpers import write_jsonl
from synthloop.generate.recipe import Recipe
from synthloop.loop import feedback_from, run_loop
from synthloop.simulate import SimReport, SimulatedAnnotators

SETTINGS = {
    "fields": [
        {"name": "prompt", "type": "text"},
        {"name": "response", "type": "text", "required": False},
    ],
    "questions": [
        {"name": "ok", "type": "label", "labels": ["yes", "no"]},
        {"name": "correction", "type": "text", "prefill": "response", "required": False},
    ],
    "distribution": {"overlap": 1},
}


class GoldByRule:
    """Simulated annotators whose gold is known only once the round's records exist: every
    queued record is labelled "yes" (a rule standing in for a gold file)."""

    def __init__(self) -> None:
        self.rounds = 0

    def annotate(self, store: synthloop.Store, name: str) -> SimReport:
        self.rounds += 1
        queued = store.dataset(name).records(status="queued")
        gold = {str(r.external_id): "yes" for r in queued}
        sim = SimulatedAnnotators.from_gold_labels(gold, noise=0.0, workers=1, seed=self.rounds)
        return sim.annotate(store, name)


def test_two_rounds_make_two_versions_and_carry_examples(
    store: synthloop.Store, tmp_path: Path
) -> None:
    store.create_dataset("replies", SETTINGS)
    write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": f"question {i}?"} for i in range(12)])
    (tmp_path / "recipe.yaml").write_text(
        "dataset: replies\ntask: responses\nsource: {file: prompts.jsonl, field: prompt}\n"
        "backend: {type: fake}\n",
        encoding="utf-8",
    )
    recipe = Recipe.load(tmp_path / "recipe.yaml")
    report = run_loop(
        store, recipe, rounds=2, budget_per_round=4, annotators=GoldByRule(), strategy="random"
    )

    first, second = report.rounds
    assert first.generated == 12
    assert second.generated == 12  # round 2's prompts carry examples: new requests, new records
    assert first.routed["queued"] == 4
    assert second.routed["queued"] == 4
    assert first.annotated == 4
    assert (first.version, second.version) == (1, 2)
    assert first.examples == {"positive": 4, "negative": 0}
    dataset = store.dataset("replies")
    assert dataset.count() == 24
    assert dataset.count(status="accepted") == 8
    rounds = sorted({r.provenance["round"] for r in dataset.records()})
    assert rounds == [1, 2]
    feedback = feedback_from(dataset, 1)
    accepted_from_round_1 = [
        r for r in dataset.records(status="accepted") if r.provenance["round"] == 1
    ]
    assert len(feedback.positive) == min(len(accepted_from_round_1), 5)
    assert (
        "Examples of good outputs"
        in feedback.apply(({"role": "user", "content": "x"},))[0]["content"]
    )


def test_the_command_runs_rounds_with_simulated_gold(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = str(tmp_path / "s.db")
    with synthloop.open(db) as store:
        store.create_dataset("replies", SETTINGS)
    write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": f"question {i}?"} for i in range(6)])
    (tmp_path / "recipe.yaml").write_text(
        "dataset: replies\ntask: responses\nsource: {file: prompts.jsonl, field: prompt}\n"
        "backend: {type: fake}\n",
        encoding="utf-8",
    )
    gold = tmp_path / "gold.csv"
    gold.write_text("item,gold\nnone,yes\n", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthloop",
            "loop",
            str(tmp_path / "recipe.yaml"),
            "--rounds",
            "1",
            "--budget-per-round",
            "3",
            "--simulate-gold",
            str(gold),
            "--db",
            db,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "loop over replies" in done.stdout


def test_the_most_corrected_slice_gets_more_generation(
    sqlite_store: synthloop.Store, tmp_path: Path
) -> None:
    sqlite_store.create_dataset("replies", SETTINGS)
    rows = [
        {"prompt": f"question {i}?", "topic": "billing" if i < 3 else "delivery"} for i in range(6)
    ]
    write_jsonl(tmp_path / "prompts.jsonl", rows)
    (tmp_path / "recipe.yaml").write_text(
        "dataset: replies\ntask: responses\nsource: {file: prompts.jsonl, field: prompt}\n"
        "backend: {type: fake}\n",
        encoding="utf-8",
    )
    topics = {f"prompts.jsonl line {i + 1}": r["topic"] for i, r in enumerate(rows)}

    def correct_billing(record: synthloop.Record, user: str) -> dict[str, str]:
        if topics[record.provenance["parent"]] == "billing":
            return {"correction": "a better reply"}
        return {}

    class Reviewers:
        def annotate(self, store: synthloop.Store, name: str) -> SimReport:
            gold = {str(r.external_id): "yes" for r in store.dataset(name).records(status="queued")}
            sim = SimulatedAnnotators.from_gold_labels(gold, workers=1, extra=correct_billing)
            return sim.annotate(store, name)

    report = run_loop(
        sqlite_store,
        Recipe.load(tmp_path / "recipe.yaml"),
        rounds=2,
        budget_per_round=6,
        annotators=Reviewers(),
        strategy="random",
        slice_field="topic",
    )
    first, second = report.rounds
    assert first.corrections == {"billing": 1.0, "delivery": 0.0}
    assert first.boosted == 6  # 3 billing questions x 2 variations
    assert second.generated == 6 + 6
    boosted = [
        r
        for r in sqlite_store.dataset("replies").records()
        if r.external_id.endswith(("-v1", "-v2"))
    ]
    assert len(boosted) == 6
    assert {topics[r.provenance["parent"]] for r in boosted} == {"billing"}
