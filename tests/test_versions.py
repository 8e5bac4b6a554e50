"""Versions: accepted records frozen with a content hash that is the same across runs and
databases, counts by source, reuse when nothing changed, immutability, and the diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import synthloop
from synthloop.cli.versions import diff, version, versions
from synthloop.errors import SynthloopError
from synthloop.export.versions import (
    create_version,
    diff_versions,
    get_version,
    list_versions,
    version_records,
)

runner = CliRunner()


def _row(rid: str, source: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": rid,
        "text": f"where is order {rid}?",
        "reply": f"order {rid} ships tomorrow",
        "status": "accepted",
        "provenance": {"source": source, "model": "m", "cost": 0.00013},
        "metadata": {"confidence": 0.8731, "ratio": 1 / 7},
        "final": {"intent": "delivery", "quality": 4},
    }
    return {**row, **extra}


def _rows() -> list[dict[str, Any]]:
    corrected = {"intent": "delivery", "quality": 2, "corrected_reply": "order c-1 ships today"}
    unchanged = {"intent": "refund", "quality": 5, "corrected_reply": "order s-2 ships tomorrow "}
    return [
        _row("s-1", "synthetic", suggestions={"intent": {"value": "delivery", "score": 0.91}}),
        _row(
            "s-2", "synthetic", text="order s-2", reply="order s-2 ships tomorrow", final=unchanged
        ),
        _row(
            "c-1",
            "synthetic",
            final=corrected,
            responses=[
                {"user": "ana", "values": corrected, "status": "submitted", "duration": 12.5}
            ],
        ),
        _row("h-1", "human"),
        _row("i-1", "imported"),
        _row("p-1", "synthetic", status="pending", final=None),
        _row("r-1", "synthetic", status="rejected", reason="duplicate", final=None),
    ]


def _filled(store: synthloop.Store, settings: synthloop.Settings) -> synthloop.Dataset:
    dataset = store.create_dataset("support", settings)
    dataset.add(_rows())
    return dataset


def test_a_version_freezes_the_accepted_records_with_counts_by_source(
    store: synthloop.Store, settings: synthloop.Settings
) -> None:
    _filled(store, settings)
    found = create_version(store, "support", tag="first", round=2)
    assert (found.number, found.tag, found.round, found.record_count) == (1, "first", 2, 5)
    assert found.counts_by_source == {
        "synthetic": 2,  # s-2's "correction" only adds a space: not a correction
        "human_corrected": 1,
        "human": 1,
        "imported": 1,
    }
    assert found.aggregation == "dawid-skene"
    assert len(found.content_hash) == 64
    assert len(found.guidelines_hash) == 64
    assert not found.reused
    frozen = version_records(store, "support", 1)
    assert [r.external_id for r in frozen] == ["c-1", "h-1", "i-1", "s-1", "s-2"]
    assert frozen[0].responses[0].user == "ana"
    assert frozen[0].final is not None
    assert frozen[0].final["corrected_reply"] == "order c-1 ships today"
    assert frozen[3].suggestions["intent"].score == 0.91
    assert [v.number for v in list_versions(store, "support")] == [1]


def test_the_hash_is_the_same_across_runs_and_databases(
    store: synthloop.Store, settings: synthloop.Settings, tmp_path: Path
) -> None:
    """The same content on the fixture's database (SQLite, or PostgreSQL) and on a second
    SQLite store, with the records added in another order, hashes the same."""
    _filled(store, settings)
    here = create_version(store, "support")
    with synthloop.open(tmp_path / "other.db") as other:
        other.create_dataset("support", settings).add(list(reversed(_rows())))
        there = create_version(other, "support")
    assert here.content_hash == there.content_hash
    assert here.counts_by_source == there.counts_by_source


def test_no_change_returns_the_latest_version(
    sqlite_store: synthloop.Store, settings: synthloop.Settings
) -> None:
    _filled(sqlite_store, settings)
    first = create_version(sqlite_store, "support")
    again = create_version(sqlite_store, "support", tag="release")
    assert again.reused
    assert again.number == first.number == 1
    assert again.content_hash == first.content_hash
    assert again.tag == "release"
    assert len(list_versions(sqlite_store, "support")) == 1
    # Another aggregation method is another version, even over the same records.
    other = create_version(sqlite_store, "support", aggregation="majority")
    assert other.number == 2
    assert other.content_hash != first.content_hash


def test_a_version_is_immutable_and_the_diff_names_what_changed(
    store: synthloop.Store, settings: synthloop.Settings
) -> None:
    dataset = _filled(store, settings)
    create_version(store, "support")
    before = [r.to_dict() for r in version_records(store, "support", 1)]
    by_id = {r.external_id: r for r in dataset.records()}
    changes = [
        _change(by_id["s-1"], "accepted", final={"intent": "refund", "quality": 4}),
        _change(by_id["h-1"], "rejected", reason="off topic"),
        _change(by_id["p-1"], "accepted", final={"intent": "other", "quality": 3}),
    ]
    dataset.update_records(changes)
    assert [r.to_dict() for r in version_records(store, "support", 1)] == before
    second = create_version(store, "support", tag="round-2")
    assert second.number == 2
    assert second.record_count == 5
    found = diff_versions(store, "support", "v1", "round-2")
    assert found.added == ["p-1"]
    assert found.removed == ["h-1"]
    assert found.changed == {"s-1": ["final"]}
    assert found.to_dict()["counts"] == {"added": 1, "removed": 1, "changed": 1, "unchanged": 3}


def _change(record: synthloop.Record, status: str, **values: Any) -> Any:
    return {
        "record_id": record.id,
        "status": status,
        "reason": values.get("reason"),
        "final": values.get("final"),
        "metadata": record.metadata,
    }


def test_versions_by_number_or_tag_and_the_errors(
    sqlite_store: synthloop.Store, settings: synthloop.Settings
) -> None:
    empty = sqlite_store.create_dataset("empty", settings)
    with pytest.raises(SynthloopError, match="no accepted records to version"):
        create_version(sqlite_store, empty.name)
    _filled(sqlite_store, settings)
    create_version(sqlite_store, "support", tag="gold")
    assert get_version(sqlite_store, "support", "gold").number == 1
    assert get_version(sqlite_store, "support", "v1").tag == "gold"
    assert get_version(sqlite_store, "support", 1).tag == "gold"
    with pytest.raises(SynthloopError, match=r"has no version 'v7' \(its versions: 1 \(gold\)\)"):
        get_version(sqlite_store, "support", "v7")
    with pytest.raises(SynthloopError, match="must not look like a version number"):
        create_version(sqlite_store, "support", tag="12")
    with pytest.raises(SynthloopError, match="already names version 1"):
        create_version(sqlite_store, "support", tag="gold", aggregation="majority")


def test_the_commands(tmp_path: Path, settings: synthloop.Settings) -> None:
    db = str(tmp_path / "store.db")
    with synthloop.open(db) as store:
        dataset = _filled(store, settings)
    app = typer.Typer()
    for command in (version, versions, diff):
        app.command()(command)
    made = runner.invoke(app, ["version", "support", "--tag", "t1", "--db", db])
    assert made.exit_code == 0, made.output
    assert "created version 1 (t1), 5 records" in made.output
    assert "human_corrected 1" in made.output
    again = runner.invoke(app, ["version", "support", "--db", db])
    assert "unchanged since version 1" in again.output
    with synthloop.open(db) as store:
        record = next(store.dataset("support").records(status="pending"))
        dataset = store.dataset("support")
        dataset.update_records([_change(record, "accepted", final={"intent": "refund"})])
    runner.invoke(app, ["version", "support", "--db", db])
    listed = runner.invoke(app, ["versions", "support", "--db", db, "--json"])
    assert [v["number"] for v in json.loads(listed.output)] == [1, 2]
    shown = runner.invoke(app, ["diff", "support", "t1", "2", "--db", db])
    assert shown.exit_code == 0, shown.output
    assert "added: 1: p-1" in shown.output
    assert "removed: 0" in shown.output
    bad = runner.invoke(app, ["diff", "support", "1", "9", "--db", db])
    assert bad.exit_code == 1
    assert "has no version '9'" in bad.output
