"""Quality on a stored dataset: answers per question, agreement, decisions written back to the
records, the annotator report, and the commands over them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import synthloop
from synthloop.cli import app
from synthloop.quality.dataset import (
    annotator_report,
    answers_for,
    dataset_agreement,
    decide,
    wilson_interval,
)

runner = CliRunner()


def _resp(user: str, duration: float | None = None, **values: Any) -> dict[str, Any]:
    return {"user": user, "values": values, "status": "submitted", "duration": duration}


def _row(rid: str, *responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    row = {"id": rid, "text": f"text {rid}", "reply": f"reply {rid}", "status": "queued"}
    return {**row, "responses": list(responses), **extra}


def _decision_rows() -> list[dict[str, Any]]:
    both = {"better": ["reply", "alternative"], "corrected_reply": "fixed"}
    return [
        _row("agree", _resp("ana", intent="refund", quality=4, **both),
             _resp("ben", intent="refund", quality=4, **both)),
        _row("split", _resp("ana", intent="refund", quality=2),
             _resp("ben", intent="delivery", quality=3)),
        _row("alone", _resp("ana", intent="refund", quality=5)),
        _row("reviewed", _resp("ana", intent="refund", quality=5),
             _resp("ben", intent="refund", quality=5),
             _resp("rev", intent="account", quality=1)),
        _row("settled", status="rejected", reason="near-duplicate"),
    ]  # fmt: skip


def _by_id(dataset: synthloop.Dataset) -> dict[str, synthloop.Record]:
    return {str(r.external_id): r for r in dataset.records()}


def test_decide_accepts_disputes_skips_and_lets_the_reviewer_win(
    store: synthloop.Store, dataset: synthloop.Dataset
) -> None:
    dataset.add(_decision_rows())
    store.add_user("rev", "reviewer")
    report = decide(dataset, method="majority", threshold=0.7)
    assert report.counts == {
        "accepted": 1,
        "below_overlap": 1,
        "disputed": 1,
        "reviewer": 1,
        "settled": 1,
    }
    assert report.methods["intent"] == "majority"
    assert report.methods["better"] == "bradley-terry"
    records = _by_id(dataset)
    agree = records["agree"]
    assert agree.status == "accepted"
    assert agree.reason is None
    assert agree.final == {
        "intent": "refund",
        "quality": 4,
        "better": ["reply", "alternative"],
        "corrected_reply": "fixed",
    }
    assert agree.metadata["decided_by"] == "aggregate:majority"
    split = records["split"]
    assert split.status == "disputed"
    assert split.final is None
    assert split.reason == "question 'intent' confidence 0.500 is below the threshold 0.7 by 0.200"
    assert records["alone"].status == "queued"
    assert records["alone"].final is None
    reviewed = records["reviewed"]
    assert reviewed.status == "accepted"
    assert reviewed.final == {"intent": "account", "quality": 1}
    assert reviewed.metadata["decided_by"] == "reviewer:rev"
    assert records["settled"].status == "rejected"


def test_decided_records_export_and_import_again(
    sqlite_store: synthloop.Store, sqlite_dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    """`final` holds valid answers: a weighted mean rating of 2.5 becomes the nearest rating."""
    sqlite_dataset.add(_decision_rows())
    decide(sqlite_dataset, method="majority")
    final = _by_id(sqlite_dataset)["split"].final or {}
    assert final["quality"] in (2, 3)
    assert isinstance(final["quality"], int)
    sqlite_dataset.export(tmp_path / "out.jsonl")
    again = sqlite_store.create_dataset("again", sqlite_dataset.settings)
    assert again.import_file(tmp_path / "out.jsonl").added == 5


def test_threshold_comes_from_settings_then_defaults_to_a_half(
    sqlite_dataset: synthloop.Dataset,
) -> None:
    sqlite_dataset.add(_decision_rows())
    report = decide(sqlite_dataset, method="majority")
    assert report.threshold == 0.5
    # a 1-1 split has confidence 0.5, which meets the default; without the reviewer role "rev"
    # is one more annotator, and "reviewed" is decided by the majority
    assert _by_id(sqlite_dataset)["split"].status == "accepted"
    assert _by_id(sqlite_dataset)["reviewed"].final == {"intent": "refund", "quality": 5}
    assert report.counts["accepted"] == 3


def test_decide_changes_nothing_when_the_method_is_unknown(
    sqlite_dataset: synthloop.Dataset,
) -> None:
    sqlite_dataset.add(_decision_rows())
    with pytest.raises(synthloop.SynthloopError, match="does not aggregate labels"):
        decide(sqlite_dataset, method="weighted-mean")
    assert sqlite_dataset.count(by="status") == {"queued": 4, "rejected": 1}


def test_answers_for_uses_record_ids_and_usernames(sqlite_dataset: synthloop.Dataset) -> None:
    sqlite_dataset.add(_decision_rows())
    answers = answers_for(sqlite_dataset, "better")
    assert answers.item_ids == ["agree"]
    assert answers.worker_ids == ["ana", "ben"]
    assert answers.values == [("reply", "alternative")]
    with pytest.raises(synthloop.SynthloopError, match="'nope' is not a question"):
        answers_for(sqlite_dataset, "nope")


def test_agreement_per_question_with_undefined_and_skipped(
    sqlite_dataset: synthloop.Dataset,
) -> None:
    sqlite_dataset.add(_decision_rows())
    found = dataset_agreement(sqlite_dataset, n_boot=50)
    intent = found["intent"]
    assert intent.alpha is not None
    assert intent.reason is None
    assert (intent.items, intent.answers) == (4, 8)  # "alone" has one answer: not pairable
    assert intent.alpha.n_items == 3
    assert intent.percent == pytest.approx((2 + 0 + 2) / (2 + 2 + 6))
    assert found["better"].alpha is None
    assert "undefined" in (found["better"].reason or "")
    assert found["topics"].reason is not None
    assert "no answers" in found["topics"].reason
    assert (found["claims"].reason or "").startswith("skipped: span")
    assert (found["corrected_reply"].reason or "").startswith("skipped: text")


def _annotator_rows() -> list[dict[str, Any]]:
    order_ab = ["reply", "alternative"]
    order_ba = ["alternative", "reply"]
    return [
        _row("g1", _resp("ana", 10, intent="refund", quality=5, better=order_ab),
             _resp("ben", 20, intent="refund", quality=3, better=order_ba),
             metadata={"gold": {"intent": "refund"}}),
        _row("g2", _resp("ana", 30, intent="delivery", quality=4, better=order_ab),
             _resp("ben", None, intent="account", quality=2, better=order_ab),
             metadata={"gold": {"intent": "account"}}),
        _row("r3", _resp("ana", 20, intent="other", quality=3),
             _resp("ben", 40, intent="other", quality=3)),
    ]  # fmt: skip


def test_annotator_report_by_hand(sqlite_dataset: synthloop.Dataset) -> None:
    sqlite_dataset.add(_annotator_rows())
    rows = {row.user: row for row in annotator_report(sqlite_dataset)}
    ana, ben = rows["ana"], rows["ben"]
    assert (ana.answers, ana.gold_answers, ana.gold_accuracy) == (3, 2, 0.5)
    assert ana.gold_interval == pytest.approx(wilson_interval(1, 2))
    assert ben.gold_accuracy == 1.0
    assert ana.median_seconds == 20
    assert ben.median_seconds == 30
    # item means 4, 3, 3: ana +1 +1 0, ben -1 -1 0
    assert ana.leniency == pytest.approx(2 / 3)
    assert ben.leniency == pytest.approx(-2 / 3)
    assert ana.position_bias == 1.0
    assert ben.position_bias == 0.5
    assert ana.reliability is not None
    assert 0 <= ana.reliability <= 1
    assert ana.role == "annotator"


def test_wilson_interval_matches_the_formula() -> None:
    low, high = wilson_interval(1, 2) or (math.nan, math.nan)
    assert low == pytest.approx(0.0945, abs=1e-4)
    assert high == pytest.approx(0.9055, abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_annotator_report_takes_gold_from_the_argument(sqlite_dataset: synthloop.Dataset) -> None:
    sqlite_dataset.add(_annotator_rows())
    rows = annotator_report(sqlite_dataset, gold={"r3": {"intent": "refund"}})
    assert {r.user: r.gold_accuracy for r in rows} == {"ana": 0.0, "ben": 0.0}


def test_annotator_report_without_data_gives_none(sqlite_dataset: synthloop.Dataset) -> None:
    sqlite_dataset.add([_row("x", _resp("ana", intent="refund", quality=3))])
    (row,) = annotator_report(sqlite_dataset)
    assert row.gold_accuracy is None
    assert row.gold_interval is None
    assert row.median_seconds is None
    assert row.position_bias is None


def _cli(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_commands_print_json(db_url: str, settings: synthloop.Settings) -> None:
    with synthloop.open(db_url) as store:
        store.create_dataset("support", settings).add(_decision_rows())
        store.add_user("rev", "reviewer")
    agreement = _cli("agreement", "support", "--db", db_url)
    assert agreement["intent"]["items"] == 4
    assert agreement["intent"]["alpha"] is not None
    annotators = _cli("annotators", "support", "--db", db_url)
    assert [a["user"] for a in annotators] == ["ana", "ben", "rev"]
    assert annotators[2]["role"] == "reviewer"
    decided = _cli(
        "aggregate", "support", "--method", "majority", "--threshold", "0.7", "--db", db_url
    )
    assert decided["counts"]["disputed"] == 1
    assert decided["threshold"] == 0.7


def test_commands_report_user_errors(sqlite_store: synthloop.Store) -> None:
    result = runner.invoke(app, ["agreement", "nope", "--db", str(sqlite_store.url)])
    assert result.exit_code == 1
