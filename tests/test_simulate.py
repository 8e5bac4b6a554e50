"""Simulated annotators through the real queue: recorded answers replayed exactly once each,
gold answered with and without noise, records nobody can answer skipped without stalling the
queue, and the same run twice giving the same answers."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

import synthloop
from helpers import shared_path
from synthloop.errors import SynthloopError
from synthloop.server.queue import enqueue
from synthloop.simulate import SimulatedAnnotators, SimulationError


def _settings(overlap: int, labels: list[str]) -> synthloop.Settings:
    return synthloop.Settings.parse(
        {
            "fields": [{"name": "text", "type": "text"}],
            "questions": [
                {"name": "note", "type": "text", "required": False},
                {"name": "label", "type": "label", "labels": labels},
            ],
            "distribution": {"overlap": overlap, "agreement_threshold": 0.5},
        }
    )


def _dataset(
    store: synthloop.Store, items: list[str], overlap: int, labels: list[str]
) -> synthloop.Dataset:
    ds = store.create_dataset("sim", _settings(overlap, labels))
    # Priorities descend with position, so the queue serves items in list order.
    ds.add([{"id": x, "text": f"item {x}", "priority": -i} for i, x in enumerate(items)])
    enqueue(ds)
    return ds


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _given(ds: synthloop.Dataset) -> list[tuple[str, str, str]]:
    """(item, worker, label) of every submitted response."""
    return sorted(
        (str(ext), r.user.removeprefix("sim-"), r.values["label"])
        for _, ext, r in ds.responses()
        if r.status == "submitted"
    )


def test_recorded_answers_replay_once_each_and_fill_the_overlap(
    store: synthloop.Store, tmp_path: Path
) -> None:
    rows = _crowd_rows(items=30)
    answers = _write(tmp_path / "answers.csv", ["item", "worker", "label"], rows)
    items = sorted({r[0] for r in rows})
    ds = _dataset(store, [*items, "no-answers"], overlap=3, labels=["0", "1"])

    report = SimulatedAnnotators.from_answers(answers, seed=1).annotate(store, "sim")

    given = _given(ds)
    recorded = Counter(tuple(r) for r in rows)
    assert all(recorded[g] >= 1 for g in given)  # each answer is a recorded one...
    assert max(Counter(given).values()) == 1  # ...used at most once
    per_item = Counter(item for item, _, _ in given)
    assert per_item == dict.fromkeys(items, 3)  # every record got exactly its overlap
    assert report.submitted == len(given) == 90
    assert report.records == 30
    assert report.unused == len(rows) - 90
    assert sum(report.by_worker.values()) == 90
    by_status = ds.count(by="status")
    assert by_status.get("queued") == 1  # the record nobody can answer, left as it was
    assert by_status.get("accepted", 0) + by_status.get("disputed", 0) == 30
    assert {r.user for _, _, r in ds.responses()} <= set(report.users)


def _crowd_rows(items: int) -> list[list[str]]:
    """The first `items` items of a real crowd set (all their recorded answers)."""
    path = shared_path("benchmarks/crowd/vldb_D_PosSent/answers.csv")
    with path.open(newline="") as handle:
        rows = [[r["item"], r["worker"], r["label"]] for r in csv.DictReader(handle)]
    keep = sorted({r[0] for r in rows}, key=int)[:items]
    return [r for r in rows if r[0] in set(keep)]


def test_a_record_short_of_answers_does_not_stall_the_records_behind_it(
    store: synthloop.Store, tmp_path: Path
) -> None:
    rows = [["a", "w1", "yes"], ["b", "w1", "no"], ["b", "w2", "no"], ["c", "w2", "yes"]]
    rows += [["c", "w3", "yes"]]
    answers = _write(tmp_path / "answers.csv", ["item", "worker", "label"], rows)
    ds = _dataset(store, ["a", "b", "c"], overlap=2, labels=["yes", "no"])

    report = SimulatedAnnotators.from_answers(answers).annotate(store, "sim")

    assert _given(ds) == sorted(tuple(r) for r in rows)
    status = {r.external_id: r.status for r in ds.records()}
    assert status == {"a": "queued", "b": "accepted", "c": "accepted"}
    # w2 and w3 were served "a", which they hold no answer for, and skipped it for good.
    skips = {(ext, r.user) for _, ext, r in ds.responses() if r.status == "discarded"}
    assert skips == {("a", "sim-w2"), ("a", "sim-w3")}
    assert report.skipped == 2
    assert report.submitted == 5


def test_gold_without_noise_decides_every_record_as_gold(
    store: synthloop.Store, tmp_path: Path
) -> None:
    labels = ["refund", "delivery", "other"]
    gold = {f"g{i}": labels[i % 3] for i in range(24)}
    path = _write(tmp_path / "gold.csv", ["item", "gold"], [[k, v] for k, v in gold.items()])
    ds = _dataset(store, list(gold), overlap=2, labels=labels)

    report = SimulatedAnnotators.from_gold(path, noise=0.0, workers=3).annotate(store, "sim")

    decided = {r.external_id: r for r in ds.records()}
    assert {r.status for r in decided.values()} == {"accepted"}
    assert {k: r.final and r.final["label"] for k, r in decided.items()} == gold
    assert report.submitted == 48
    # the work is shared: nobody answers more than their share plus one
    assert max(report.by_worker.values()) - min(report.by_worker.values()) <= 1


def test_gold_with_noise_is_seeded(tmp_path: Path) -> None:
    labels = ["a", "b", "c", "d"]
    gold = {f"g{i}": labels[i % 4] for i in range(60)}

    def run(seed: int) -> list[tuple[str, str, str]]:
        with synthloop.open(tmp_path / f"s{seed}-{len(list(tmp_path.iterdir()))}.db") as store:
            ds = _dataset(store, list(gold), overlap=2, labels=labels)
            sim = SimulatedAnnotators.from_gold_labels(gold, noise=0.3, workers=2, seed=seed)
            sim.annotate(store, "sim")
            return _given(ds)

    first = run(7)
    assert run(7) == first
    assert run(8) != first
    wrong = sum(label != gold[item] for item, _, label in first)
    assert 0.15 * len(first) < wrong < 0.45 * len(first)  # 0.3 of 120 answers, loosely


def test_max_records_answers_the_first_records_the_queue_serves(store: synthloop.Store) -> None:
    gold = {f"g{i}": "x" for i in range(10)}
    ds = _dataset(store, list(gold), overlap=1, labels=["x", "y"])

    sim = SimulatedAnnotators.from_gold_labels(gold, workers=2)
    report = sim.annotate(store, "sim", max_records=4)

    assert report.records == report.submitted == 4
    answered = {r.external_id for r in ds.records(status="accepted")}
    assert answered == {"g0", "g1", "g2", "g3"}
    assert ds.count(status="queued") == 6
    # a second run takes up where the first stopped
    assert sim.annotate(store, "sim").submitted == 6


def test_labels_outside_the_question_are_refused_before_anything_is_submitted(
    store: synthloop.Store, tmp_path: Path
) -> None:
    rows = [["a", "w1", "yes"], ["a", "w2", "maybe"]]
    answers = _write(tmp_path / "answers.csv", ["item", "worker", "label"], rows)
    ds = _dataset(store, ["a"], overlap=1, labels=["yes", "no"])
    with pytest.raises(SimulationError, match=r"item 'a'.*label 'maybe' is not one of"):
        SimulatedAnnotators.from_answers(answers).annotate(store, "sim")
    assert ds.responses() == []
    with pytest.raises(SynthloopError, match="'nope' is not a label question"):
        SimulatedAnnotators.from_answers(answers, question="nope").annotate(store, "sim")


def test_a_file_without_the_columns_names_them(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.csv", ["id", "who", "label"], [["a", "w", "x"]])
    with pytest.raises(SynthloopError, match="column item, worker is missing"):
        SimulatedAnnotators.from_answers(path)
    with pytest.raises(SynthloopError, match="column gold or label is missing"):
        SimulatedAnnotators.from_gold(_write(tmp_path / "g.csv", ["item", "x"], [["a", "b"]]))
