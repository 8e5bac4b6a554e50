"""`synthloop quality aggregate|agreement` on plain files: every bad input gets a clear message
or a defined behaviour, never a traceback."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import shared_path
from synthloop.cli import app

runner = CliRunner()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["quality", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def _labels(path: Path) -> dict[str, tuple[str, float]]:
    with path.open(newline="", encoding="utf-8") as f:
        return {r["item"]: (r["label"], float(r["confidence"])) for r in csv.DictReader(f)}


GOOD = "item,worker,label\na,w1,x\na,w2,x\na,w3,y\nb,w1,y\nb,w2,y\nb,w3,y\n"


@pytest.mark.parametrize("method", ["majority", "dawid-skene", "mace"])
def test_aggregate_writes_item_label_confidence(tmp_path: Path, method: str) -> None:
    answers = _write(tmp_path / "answers.csv", GOOD)
    code, stdout, _ = _run(
        "aggregate", str(answers), "--method", method, "--out", str(tmp_path / "out.csv")
    )
    assert code == 0, stdout
    labels = _labels(tmp_path / "out.csv")
    assert {k: v[0] for k, v in labels.items()} == {"a": "x", "b": "y"}
    assert all(0 < conf <= 1 for _, conf in labels.values())


def test_gold_accuracy_and_unseen_gold_labels(tmp_path: Path) -> None:
    answers = _write(tmp_path / "answers.csv", GOOD)
    gold = _write(tmp_path / "gold.csv", "item,gold\na,x\nb,z\nc,x\n")
    code, stdout, _ = _run(
        "aggregate", str(answers), "--out", str(tmp_path / "o.csv"), "--gold", str(gold), "--json"
    )
    assert code == 0
    report = json.loads(stdout)["gold"]
    assert report == {
        "accuracy": 0.5,
        "items": 2,
        "correct": 1,
        "without_answers": 1,
        "unseen_labels": ["z"],
    }


def test_duplicates_keep_the_last_answer_and_are_counted(tmp_path: Path) -> None:
    answers = _write(
        tmp_path / "answers.csv", "item,worker,label\na,w1,x\na,w1,y\na,w2,y\nb,w1,x\n"
    )
    code, _, stderr = _run(
        "aggregate", str(answers), "--method", "majority", "--out", str(tmp_path / "o.csv")
    )
    assert code == 0
    assert "1 repeated (item, worker) answers were replaced" in stderr
    assert _labels(tmp_path / "o.csv")["a"] == ("y", 1.0)


def test_blank_and_nan_labels_are_skipped_and_counted(tmp_path: Path) -> None:
    answers = _write(
        tmp_path / "answers.csv", "item,worker,label\na,w1,x\na,w2,\na,w3,NaN\nb,w1,y\n"
    )
    code, _, stderr = _run("aggregate", str(answers), "--out", str(tmp_path / "o.csv"))
    assert code == 0
    assert "2 answers with a blank or NaN label were skipped" in stderr


def test_single_answers_per_item_and_per_worker_are_fine(tmp_path: Path) -> None:
    """Defined behaviour: every item gets a label; majority returns the one answer. The models
    may lean on the class prior when a worker's only answer is all they know of them."""
    answers = _write(tmp_path / "answers.csv", "item,worker,label\na,w1,x\nb,w2,y\nc,w3,x\n")
    for method in ("majority", "dawid-skene", "mace"):
        code, _, _ = _run(
            "aggregate", str(answers), "--method", method, "--out", str(tmp_path / "o.csv")
        )
        assert code == 0
        labels = _labels(tmp_path / "o.csv")
        assert set(labels) == {"a", "b", "c"}
        assert all(0 < conf <= 1 for _, conf in labels.values())
        if method == "majority":
            assert {k: v[0] for k, v in labels.items()} == {"a": "x", "b": "y", "c": "x"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: the file is empty"),
        ("item,worker\na,w1\n", "missing column 'label'"),
        ("id,annotator,answer\n1,w,x\n", "missing columns 'item', 'worker', 'label'"),
        ("item,worker,label\na,w1,\n", "no answers with a label"),
        ("item,worker,label\na,w1\n", "line 2: the row has fewer cells than the header"),
    ],
    ids=["empty", "missing-label-column", "wrong-header", "only-blank-labels", "short-row"],
)
def test_bad_answer_files_exit_1_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    answers = _write(tmp_path / "answers.csv", text)
    code, _, stderr = _run("aggregate", str(answers), "--out", str(tmp_path / "o.csv"))
    assert code == 1
    assert message in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "o.csv").exists()


def test_bad_gold_file(tmp_path: Path) -> None:
    answers = _write(tmp_path / "answers.csv", GOOD)
    gold = _write(tmp_path / "gold.csv", "item,truth\na,x\n")
    code, _, stderr = _run(
        "aggregate", str(answers), "--out", str(tmp_path / "o.csv"), "--gold", str(gold)
    )
    assert code == 1
    assert "missing column 'gold'" in stderr


def test_a_missing_file(tmp_path: Path) -> None:
    code, _, stderr = _run("agreement", str(tmp_path / "nope.csv"))
    assert code == 1
    assert "cannot read the file" in stderr


def test_agreement_json(tmp_path: Path) -> None:
    answers = _write(tmp_path / "answers.csv", GOOD)
    code, stdout, _ = _run("agreement", str(answers), "--json")
    assert code == 0
    figures = json.loads(stdout)
    assert set(figures) == {"krippendorff_alpha", "fleiss_kappa", "percent_agreement"}
    assert figures["percent_agreement"] == pytest.approx(4 / 6)


def test_agreement_without_equal_answers_per_item_has_no_fleiss(tmp_path: Path) -> None:
    answers = _write(tmp_path / "answers.csv", GOOD + "c,w1,x\n")
    code, stdout, _ = _run("agreement", str(answers), "--json")
    assert code == 0
    assert json.loads(stdout)["fleiss_kappa"] is None


def test_agreement_with_no_variation_is_undefined_not_a_crash(tmp_path: Path) -> None:
    answers = _write(tmp_path / "answers.csv", "item,worker,label\na,w1,x\na,w2,x\n")
    code, stdout, stderr = _run("agreement", str(answers), "--json")
    assert code == 0
    assert json.loads(stdout)["krippendorff_alpha"] is None
    assert "undefined" in stderr


def test_numeric_levels_need_numbers(tmp_path: Path) -> None:
    answers = _write(tmp_path / "answers.csv", "item,worker,label\na,w1,1\na,w2,high\n")
    code, _, stderr = _run("agreement", str(answers), "--level", "interval")
    assert code == 1
    assert "line 3: label 'high' is not a number" in stderr


def _crowd(name: str) -> Path:
    return shared_path(f"benchmarks/crowd/{name}")


@pytest.mark.parametrize(
    ("name", "majority", "dawid_skene"),
    [("vldb_D_Product", 0.8966, 0.9366), ("vldb_D_PosSent", 0.9331, 0.9600)],
)
def test_the_cli_reproduces_the_published_accuracies(
    tmp_path: Path, name: str, majority: float, dawid_skene: float
) -> None:
    folder = _crowd(name)
    accuracy = {}
    for method in ("majority", "dawid-skene"):
        code, stdout, _ = _run(
            "aggregate",
            str(folder / "answers.csv"),
            "--method",
            method,
            "--out",
            str(tmp_path / "o.csv"),
            "--gold",
            str(folder / "gold.csv"),
            "--json",
        )
        assert code == 0
        accuracy[method] = json.loads(stdout)["gold"]["accuracy"]
    # VLDB 2017 Table 6; majority breaks ties at random, so within a point where ties exist.
    assert accuracy["majority"] == pytest.approx(majority, abs=0.01)
    assert accuracy["dawid-skene"] >= dawid_skene - 1e-9
