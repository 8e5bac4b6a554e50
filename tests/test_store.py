"""The store and a dataset's records: opening, naming, reading lazily, counting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import synthloop
from helpers import dump, rich_rows, simple_row
from synthloop import DatasetExists, DatasetNotFound, SynthloopError
from synthloop.store.engine import resolve_url

STATUS_ROWS = [
    simple_row(1),
    simple_row(2, status="accepted"),
    simple_row(3, status="rejected", reason="off topic"),
    simple_row(4, status="accepted", provenance={"source": "synthetic", "model": "m"}),
    simple_row(5, provenance={"source": "human"}),
    simple_row(6, status="failed", reason="timeout", provenance={"source": "synthetic"}),
]


def test_open_creates_the_store_and_keeps_datasets(
    db_url: str, settings: synthloop.Settings
) -> None:
    with synthloop.open(db_url) as store:
        store.create_dataset("b-set", settings).add([simple_row(1)])
        store.create_dataset("a.set", settings)
    with synthloop.open(db_url) as store:
        assert [d.name for d in store.datasets()] == ["a.set", "b-set"]
        assert store.dataset("b-set").count() == 1
        assert store.dataset("b-set").settings == settings


def test_the_store_path_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHLOOP_DB", str(tmp_path / "env.db"))
    with synthloop.open() as store:
        assert store.url == f"sqlite:///{tmp_path / 'env.db'}"
    assert (tmp_path / "env.db").exists()


@pytest.mark.parametrize(
    ("db", "url"),
    [
        ("store.db", "sqlite:///store.db"),
        ("~/x.db", f"sqlite:///{Path.home() / 'x.db'}"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
    ],
)
def test_a_path_or_url_names_the_database(db: str, url: str) -> None:
    assert resolve_url(db) == url


def test_a_store_that_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(synthloop.StoreError, match="cannot open the store"):
        synthloop.open(tmp_path / "no-such-folder" / "store.db")
    with pytest.raises(synthloop.StoreError, match="cannot use database"):
        synthloop.open("nosuchdb://somewhere/x")


def test_dataset_names_are_unique(store: synthloop.Store, settings: synthloop.Settings) -> None:
    store.create_dataset("support", settings)
    with pytest.raises(DatasetExists, match="dataset 'support' already exists"):
        store.create_dataset("support", settings)
    assert len(store.datasets()) == 1


@pytest.mark.parametrize("name", ["", "-lead", "has space", "a/b", "x" * 201])
def test_invalid_dataset_names(
    sqlite_store: synthloop.Store, settings: synthloop.Settings, name: str
) -> None:
    with pytest.raises(SynthloopError, match="is not valid"):
        sqlite_store.create_dataset(name, settings)


def test_a_missing_dataset_names_the_known_ones(
    sqlite_store: synthloop.Store, settings: synthloop.Settings
) -> None:
    with pytest.raises(DatasetNotFound, match="the store has no datasets yet"):
        sqlite_store.dataset("support")
    sqlite_store.create_dataset("other", settings)
    with pytest.raises(DatasetNotFound, match=r"known datasets: other\); create it with"):
        sqlite_store.dataset("support")


def test_datasets_keep_their_records_apart(
    store: synthloop.Store, settings: synthloop.Settings
) -> None:
    first = store.create_dataset("first", settings)
    second = store.create_dataset("second", settings)
    first.add([simple_row(1), simple_row(2)])
    assert second.add([simple_row(1)]).added == 1  # the same id in another dataset is new
    assert (first.count(), second.count()) == (2, 1)


# ---------------------------------------------------------------- reading


def test_records_come_in_insertion_order_across_pages(dataset: synthloop.Dataset) -> None:
    dataset.add([simple_row(i) for i in range(2_500)])
    records = list(dataset.records())
    assert [r.external_id for r in records] == [f"s-{i}" for i in range(2_500)]
    assert len({r.id for r in records}) == 2_500


@pytest.mark.parametrize("limit", [0, 1, 999, 1000, 1001, 2_499, 2_500, 5_000])
def test_records_limit(sqlite_dataset: synthloop.Dataset, limit: int) -> None:
    sqlite_dataset.add([simple_row(i) for i in range(2_500)])
    ids = [r.external_id for r in sqlite_dataset.records(limit=limit)]
    assert ids == [f"s-{i}" for i in range(min(limit, 2_500))]


def test_records_after_a_store_id(dataset: synthloop.Dataset) -> None:
    dataset.add([simple_row(i) for i in range(1_500)])
    ids = [r.id or 0 for r in dataset.records()]
    later = list(dataset.records(after=ids[1_099], limit=300))
    assert [r.id for r in later] == ids[1_100:1_400]
    assert list(dataset.records(after=ids[-1])) == []


def test_add_names_items_that_are_no_rows(sqlite_dataset: synthloop.Dataset) -> None:
    rows: list[Any] = [simple_row(1), 7, ["x"]]
    with pytest.raises(synthloop.ImportFailed) as failed:
        sqlite_dataset.add(rows, source="the batch")
    assert [(p.where, p.message.split(",")[-1]) for p in failed.value.problems] == [
        ("record 2", " got int"),
        ("record 3", " got list"),
    ]
    assert str(failed.value).startswith("import failed in the batch: 2 problems")
    assert sqlite_dataset.count() == 0


def test_records_are_read_lazily(sqlite_dataset: synthloop.Dataset) -> None:
    pending = sqlite_dataset.records(limit=1_200)  # nothing is read until the caller iterates
    sqlite_dataset.add([simple_row(i) for i in range(1_500)])
    assert next(pending).external_id == "s-0"
    assert sum(1 for _ in pending) == 1_199


def test_records_filtered_by_status_and_source(dataset: synthloop.Dataset) -> None:
    dataset.add(STATUS_ROWS)

    def ids(**filters: object) -> list[str | None]:
        return [r.external_id for r in dataset.records(**filters)]

    assert ids(status="accepted") == ["s-2", "s-4"]
    assert ids(status=["rejected", "failed"]) == ["s-3", "s-6"]
    assert ids(source="synthetic") == ["s-4", "s-6"]
    assert ids(status="accepted", source="synthetic") == ["s-4"]
    assert ids(status="accepted", source="synthetic", limit=0) == []
    assert ids(status="disputed") == []


def test_count_by_status_and_source(dataset: synthloop.Dataset) -> None:
    assert dataset.count() == 0
    assert dataset.count(by="status") == {}
    dataset.add(STATUS_ROWS)
    assert dataset.count() == 6
    assert dataset.count(by="status") == {"accepted": 2, "failed": 1, "pending": 2, "rejected": 1}
    assert dataset.count(by="source") == {"human": 1, "imported": 3, "synthetic": 2}
    assert dataset.count(by="status", source="synthetic") == {"accepted": 1, "failed": 1}
    assert dataset.count(status=["accepted", "pending"]) == 4


def test_count_by_something_else(sqlite_dataset: synthloop.Dataset) -> None:
    with pytest.raises(SynthloopError, match=r"count\(by='user'\): can count by 'status', 'sou"):
        sqlite_dataset.count(by="user")


def test_a_rejected_record_keeps_its_reason(sqlite_dataset: synthloop.Dataset) -> None:
    sqlite_dataset.add(STATUS_ROWS)
    (rejected,) = sqlite_dataset.records(status="rejected")
    assert rejected.reason == "off topic"


def test_responses_keep_their_annotators_and_order(dataset: synthloop.Dataset) -> None:
    responses = [
        {"user": "zoe", "values": {"intent": "refund", "quality": 1}, "duration": 3.5},
        {"user": "ana", "values": {"intent": "other"}, "status": "draft", "duration": None},
        {"user": "max", "values": {}, "status": "discarded", "duration": 0},
    ]
    dataset.add([simple_row(1, responses=responses), simple_row(2, responses=responses[1:])])
    first, second = dump(dataset)
    assert [r["user"] for r in first["responses"]] == ["zoe", "ana", "max"]
    assert first["responses"][0] == {**responses[0], "status": "submitted"}
    assert second["responses"] == responses[1:]


def test_a_rating_suggestion_reads_back(dataset: synthloop.Dataset) -> None:
    # A bare number as a JSON value: SQLite's JSON column affinity must not break reading it.
    suggestions = {
        "quality": {"value": 4, "score": 0.75, "agent": "judge"},
        "intent": {"value": "refund", "score": None, "agent": None},
    }
    dataset.add([simple_row(1, suggestions=suggestions)])
    (record,) = dump(dataset)
    assert record["suggestions"] == suggestions


def test_everything_a_record_holds_is_kept(dataset: synthloop.Dataset) -> None:
    rows = rich_rows(60)
    dataset.add(rows)
    assert dump(dataset) == rows
