"""Export writes everything a record holds, in a shape import reads back unchanged."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import synthloop
from helpers import dump, read_jsonl, rich_rows, simple_row, write_jsonl
from synthloop import ImportReport, SynthloopError


@pytest.fixture(scope="module")
def ten_thousand(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    rows = rich_rows(10_000)
    return write_jsonl(tmp_path_factory.mktemp("rich") / "rich.jsonl", rows), rows


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_import_export_import_keeps_every_record_identical(
    store: synthloop.Store,
    settings: synthloop.Settings,
    tmp_path: Path,
    ten_thousand: tuple[Path, list[dict]],
    fmt: str,
) -> None:
    source, rows = ten_thousand
    first = store.create_dataset("first", settings)
    assert first.import_file(source) == ImportReport(rows=10_000, added=10_000)

    reference = tmp_path / "first.jsonl"
    assert first.export(reference) == 10_000
    exported = read_jsonl(reference)
    assert exported == rows  # everything each input row held is in the store and the export

    out = tmp_path / f"first.{fmt}"
    if fmt != "jsonl":
        assert first.export(out) == 10_000
    second = store.create_dataset("second", settings)
    assert second.import_file(out) == ImportReport(rows=10_000, added=10_000)
    assert dump(second) == exported

    again = tmp_path / f"second.{fmt}"
    assert second.export(again) == 10_000
    if fmt == "jsonl":
        assert again.read_bytes() == out.read_bytes()
    else:
        assert pq.read_table(again).equals(pq.read_table(out))


def test_a_json_field_and_empty_text_survive_parquet(
    store: synthloop.Store, tmp_path: Path
) -> None:
    settings = {
        "fields": [
            {"name": "text", "type": "text"},
            {"name": "payload", "type": "json", "required": False},
        ]
    }
    rows = [
        {"id": "object", "text": "", "payload": {"k": [1, 2.5, None, True]}},
        {"id": "list", "text": "a", "payload": ["x", {"y": 1}]},
        {"id": "string", "text": "b", "payload": "plain"},
        {"id": "number", "text": "c", "payload": 7},
        {"id": "absent", "text": "d"},
    ]
    first = store.create_dataset("first", settings)
    first.add(rows)
    first.export(tmp_path / "out.parquet")
    second = store.create_dataset("second", settings)
    assert second.import_file(tmp_path / "out.parquet").added == 5
    assert dump(second) == dump(first)
    assert [r["fields"] for r in dump(second)] == [
        {k: v for k, v in r.items() if k != "id"} for r in rows
    ]


def test_parquet_has_one_column_per_field(
    sqlite_dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    chat = [{"role": "user", "content": "hi", "name": "kim"}]  # keys beyond role and content
    sqlite_dataset.add([simple_row(1, conversation=chat), simple_row(2)])
    assert sqlite_dataset.export(tmp_path / "out.parquet") == 2
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == [
        "id",
        "text",
        "reply",
        "conversation",
        "status",
        "reason",
        "priority",
        "metadata",
        "provenance",
        "suggestions",
        "responses",
        "final",
    ]
    assert table.schema.field("conversation").type == pa.string()
    assert [orjson.loads(c) if c else c for c in table.column("conversation").to_pylist()] == [
        chat,
        None,
    ]
    assert table.column("text").to_pylist() == ["message 1", "message 2"]


FILTER_ROWS = [
    simple_row(1),
    simple_row(2, status="accepted", provenance={"source": "synthetic", "model": "m"}),
    simple_row(3, status="rejected", reason="duplicate", provenance={"source": "synthetic"}),
    simple_row(4, status="accepted", provenance={"source": "human"}),
]


@pytest.mark.parametrize(
    ("filters", "ids"),
    [
        ({}, ["s-1", "s-2", "s-3", "s-4"]),
        ({"status": "accepted"}, ["s-2", "s-4"]),
        ({"source": "synthetic"}, ["s-2", "s-3"]),
        ({"status": ["accepted", "rejected"], "source": "synthetic"}, ["s-2", "s-3"]),
        ({"status": "disputed"}, []),
    ],
)
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_export_filters(
    dataset: synthloop.Dataset, tmp_path: Path, filters: dict, ids: list[str], fmt: str
) -> None:
    dataset.add(FILTER_ROWS)
    path = tmp_path / f"out.{fmt}"
    assert dataset.export(path, **filters) == len(ids)
    if fmt == "jsonl":
        assert [r["id"] for r in read_jsonl(path)] == ids
    else:
        assert pq.read_table(path).column("id").to_pylist() == ids


def test_the_format_may_be_given(sqlite_dataset: synthloop.Dataset, tmp_path: Path) -> None:
    sqlite_dataset.add([simple_row(1)])
    assert sqlite_dataset.export(tmp_path / "out.data", format="parquet") == 1
    assert pq.read_table(tmp_path / "out.data").num_rows == 1


def test_an_unknown_format_writes_nothing(
    sqlite_dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    with pytest.raises(SynthloopError, match=r"format '\.csv' is not one of jsonl, parquet"):
        sqlite_dataset.export(tmp_path / "out.csv")
    with pytest.raises(SynthloopError, match="format 'xml' is not one of"):
        sqlite_dataset.export(tmp_path / "out.jsonl", format="xml")
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("store.db")] == []


def test_a_missing_folder_is_named(sqlite_dataset: synthloop.Dataset, tmp_path: Path) -> None:
    with pytest.raises(SynthloopError, match=r"folder .*missing.* does not exist; create it first"):
        sqlite_dataset.export(tmp_path / "missing" / "out.jsonl")


def test_export_replaces_the_file_and_leaves_no_partial(
    sqlite_dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("old content\n", encoding="utf-8")
    sqlite_dataset.add([simple_row(1)])
    assert sqlite_dataset.export(path) == 1
    assert [r["id"] for r in read_jsonl(path)] == ["s-1"]
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_an_empty_export(sqlite_dataset: synthloop.Dataset, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"out.{fmt}"
    assert sqlite_dataset.export(path) == 0
    if fmt == "jsonl":
        assert path.read_bytes() == b""
    else:
        assert pq.read_table(path).num_rows == 0


def test_export_progress(sqlite_dataset: synthloop.Dataset, tmp_path: Path) -> None:
    sqlite_dataset.add([simple_row(i) for i in range(12_000)])
    calls: list[tuple[int, int | None]] = []
    sqlite_dataset.export(tmp_path / "out.jsonl", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (12_000, 12_000)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
