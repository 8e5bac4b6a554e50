"""Importing files: all or nothing, every problem named with its line, nothing added twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import synthloop
from helpers import dump, simple_row, write_jsonl
from synthloop import ImportFailed, ImportReport, Record, SynthloopError

# Records already in the dataset before each bad import: "as it was" must be checkable.
SEED = [
    simple_row(100, suggestions={"intent": {"value": "refund", "score": 0.5, "agent": "m"}}),
    simple_row(
        101,
        status="rejected",
        reason="off topic",
        responses=[{"user": "ana", "values": {"intent": "other", "quality": 2}}],
    ),
    {"text": "no id here", "reply": "so the content hash is its id", "metadata": {"k": [1]}},
]


@pytest.fixture
def seeded(dataset: synthloop.Dataset) -> synthloop.Dataset:
    dataset.add(SEED)
    return dataset


def _lines(*rows: dict[str, Any] | bytes) -> bytes:
    return b"".join(r if isinstance(r, bytes) else orjson.dumps(r) + b"\n" for r in rows)


def _good(n: int = 2) -> bytes:
    return _lines(*(simple_row(i) for i in range(1, n + 1)))


def _huge_line(path: Path) -> None:
    with path.open("wb") as f:
        f.write(b'{"text": "')
        for _ in range(50):
            f.write(b"x" * (1 << 20))
        f.write(b'", "reply": "r"}\n')
        f.write(_good())


def _write(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content)


BAD_INPUTS = [
    pytest.param(
        "rows.jsonl",
        _write(_good() + b'{"id": "s-9", "text": "cut", "re\n'),
        "line 3",
        "not valid JSON",
        id="truncated-json-line",
    ),
    pytest.param(
        "rows.jsonl",
        _write(_good() + _lines(simple_row(3, reply=3))),
        "line 3",
        "field 'reply' (markdown): expected a string, got int 3",
        id="wrong-type",
    ),
    pytest.param(
        "rows.jsonl",
        _write(_good() + _lines(simple_row(3, suggestions={"intent": {"value": "bogus"}}))),
        "line 3",
        "suggestion: question 'intent': label 'bogus' is not one of",
        id="unknown-label-in-suggestion",
    ),
    pytest.param(
        "rows.jsonl",
        _write(
            _lines(
                simple_row(0, responses=[{"user": "ana", "values": {"intent": "x", "quality": 2}}])
            )
            + _good()
        ),
        "line 1",
        "response 0: question 'intent': label 'x' is not one of",
        id="unknown-label-in-response",
    ),
    pytest.param(
        "rows.jsonl",
        _write(_good(3) + _lines(simple_row(4, final={"topics": ["billing", "weather"]}))),
        "line 4",
        "final: question 'topics': labels ['weather'] are not among",
        id="unknown-label-in-final",
    ),
    pytest.param(
        "rows.jsonl",
        _write(_good() + _lines(simple_row(1))),
        "line 3",
        "id 's-1' was already used at line 1; ids must be unique within one input",
        id="duplicate-id-in-file",
    ),
    pytest.param(
        "rows.jsonl",
        _write(_good(1) + b'{"text": "caf\xe9", "reply": "r"}\n' + _lines(simple_row(3))),
        "line 2",
        "byte 0xe9 at column 14 is not UTF-8",
        id="non-utf8-bytes",
    ),
    pytest.param(
        "rows.jsonl",
        _write(b""),
        "line 1",
        "the file is empty",
        id="empty-file",
    ),
    pytest.param(
        "rows.jsonl",
        _huge_line,
        "line 1",
        "over the limit of 16,777,216 bytes per row",
        id="50MB-line",
    ),
    pytest.param(
        "rows.jsonl",
        _write(_good(1) + _lines(simple_row(2, reply="a\u0000b"))),
        "line 2",
        "NUL character",
        id="nul-character",
    ),
    pytest.param(
        "rows.jsonl",
        _write(_lines(simple_row(1, suggestions={"corrected_reply": {"value": "\u0000"}}))),
        "line 1",
        "NUL character",
        id="nul-in-a-suggestion",
    ),
    pytest.param(
        "rows.csv",
        _write(b"id,text\n1,hello\n2,bye\n"),
        "line 1 (header)",
        "column 'reply' is missing: it holds the required field 'reply'",
        id="csv-missing-column",
    ),
]


@pytest.mark.parametrize(("name", "make", "where", "complaint"), BAD_INPUTS)
def test_bad_input_names_the_line_and_writes_nothing(
    seeded: synthloop.Dataset,
    tmp_path: Path,
    name: str,
    make: Callable[[Path], None],
    where: str,
    complaint: str,
) -> None:
    path = tmp_path / name
    make(path)
    before = dump(seeded)
    with pytest.raises(ImportFailed) as info:
        seeded.import_file(path)
    problems = info.value.problems
    assert [p.where for p in problems] == [where], problems
    assert complaint in problems[0].message
    message = str(info.value)
    assert f"{where}: " in message
    assert str(path) in message
    assert "nothing was imported" in message
    assert seeded.count() == len(SEED)
    assert dump(seeded) == before


def test_every_bad_line_is_reported_at_once(sqlite_dataset: synthloop.Dataset, tmp_path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(
        _lines(
            simple_row(1),
            simple_row(2, reply=None),
            simple_row(3),
            b"not json\n",
            simple_row(5, priority="high"),
            simple_row(6),
        )
    )
    with pytest.raises(ImportFailed) as info:
        sqlite_dataset.import_file(path)
    assert info.value.total == 3
    assert [p.where for p in info.value.problems] == ["line 2", "line 4", "line 5"]
    assert "3 problems" in str(info.value)
    assert sqlite_dataset.count() == 0


def test_many_bad_rows_are_capped_with_the_total(
    sqlite_dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [simple_row(i, reply=i) for i in range(1, 501)])
    with pytest.raises(ImportFailed) as info:
        sqlite_dataset.import_file(path)
    error = info.value
    assert error.total == 500
    assert 20 <= len(error.problems) < 500
    assert [p.where for p in error.problems[:3]] == ["line 1", "line 2", "line 3"]
    message = str(error)
    assert "500 problems" in message
    assert message.count("\n  - line ") == 20
    assert "... and 480 more" in message


def test_a_literal_backslash_u0000_is_not_a_nul(dataset: synthloop.Dataset, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [simple_row(1, reply="C:\\u0000 is a path")])
    assert dataset.import_file(path).added == 1
    assert next(dataset.records()).fields["reply"] == "C:\\u0000 is a path"


def test_a_row_with_two_problems_counts_both(
    sqlite_dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [{"id": "a", "text": 1, "reply": 2}])
    with pytest.raises(ImportFailed) as info:
        sqlite_dataset.import_file(path)
    assert info.value.total == 2
    assert [p.where for p in info.value.problems] == ["line 1", "line 1"]


def test_a_bad_row_after_written_batches_still_writes_nothing(
    seeded: synthloop.Dataset, tmp_path: Path
) -> None:
    # The writer flushes every few thousand rows, so this bad row comes after real INSERTs.
    rows = [simple_row(i) for i in range(12_000)] + [simple_row(99_999, reply=["x"])]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    before = dump(seeded)
    with pytest.raises(ImportFailed) as info:
        seeded.import_file(path)
    assert [p.where for p in info.value.problems] == ["line 12001"]
    assert seeded.count() == len(SEED)
    assert dump(seeded) == before


# ---------------------------------------------------------------- nothing twice


def test_importing_the_same_file_twice_adds_nothing(
    seeded: synthloop.Dataset, tmp_path: Path
) -> None:
    rows = [simple_row(i) for i in range(50)] + [
        {"text": f"anon {i}", "reply": "r"} for i in range(5)
    ]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    first = seeded.import_file(path)
    assert first == ImportReport(rows=55, added=55, existing=0, repeated=0)
    after_first = dump(seeded)
    second = seeded.import_file(path)
    assert second == ImportReport(rows=55, added=0, existing=55, repeated=0)
    assert seeded.count() == len(SEED) + 55
    assert dump(seeded) == after_first


def test_rows_without_ids_are_known_by_their_content(
    dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    a = {"text": "same", "reply": "content"}
    b = {"text": "other", "reply": "content"}
    a_reordered = {"reply": "content", "text": "same", "metadata": {"differs": True}}
    path = write_jsonl(tmp_path / "rows.jsonl", [a, b, a_reordered, {"text": "c", "reply": "d"}, b])
    assert dataset.import_file(path) == ImportReport(rows=5, added=3, existing=0, repeated=2)
    assert dataset.import_file(path) == ImportReport(rows=5, added=0, existing=3, repeated=2)
    stored = dump(dataset)
    assert len(stored) == 3
    # the first of the repeated rows is the one kept
    assert stored[0]["metadata"] == {}
    assert stored[0]["id"] == Record(fields=a).content_hash()


def test_an_id_wins_over_content(dataset: synthloop.Dataset) -> None:
    twins = [simple_row(1, text="same"), simple_row(2, text="same")]
    assert dataset.add(twins) == ImportReport(rows=2, added=2)


def test_a_known_id_keeps_the_stored_record(dataset: synthloop.Dataset) -> None:
    dataset.add([simple_row(1)])
    report = dataset.add([simple_row(1, reply="changed"), simple_row(2)])
    assert report == ImportReport(rows=2, added=1, existing=1)
    assert [r.fields["reply"] for r in dataset.records()] == ["reply 1", "reply 2"]


def test_add_takes_records_and_rows(sqlite_dataset: synthloop.Dataset) -> None:
    record = Record(fields={"text": "t", "reply": "r"}, external_id="rec-1", status="queued")
    report = sqlite_dataset.add([record, simple_row(2)])
    assert report.added == 2
    (stored, _) = sqlite_dataset.records()
    assert (stored.external_id, stored.status, stored.fields) == ("rec-1", "queued", record.fields)
    assert stored.id is not None


def test_add_is_all_or_nothing(sqlite_dataset: synthloop.Dataset) -> None:
    with pytest.raises(ImportFailed) as info:
        sqlite_dataset.add([simple_row(1), simple_row(2, status="finished")])
    assert [p.where for p in info.value.problems] == ["record 2"]
    assert sqlite_dataset.count() == 0


# ---------------------------------------------------------------- formats


def test_csv_with_a_mapped_column(dataset: synthloop.Dataset, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        "id,question,reply,conversation,metadata,priority\n"
        '1,"Where, exactly?",It left,"[{""role"": ""user"", ""content"": ""hi""}]",'
        '"{""k"": 1}",2.5\n'
        "2,Second,Reply two,,,\n",
        encoding="utf-8",
    )
    report = dataset.import_file(path, mapping={"text": "question"})
    assert report == ImportReport(rows=2, added=2)
    first, second = dump(dataset)
    assert first["fields"] == {
        "text": "Where, exactly?",
        "reply": "It left",
        "conversation": [{"role": "user", "content": "hi"}],
    }
    assert (first["metadata"], first["priority"]) == ({"k": 1}, 2.5)
    assert second["fields"] == {"text": "Second", "reply": "Reply two"}


def test_csv_problems_name_their_lines(sqlite_dataset: synthloop.Dataset, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b'text,reply\na,b\n"multi\nline",c\nd,e,f\ng,\n')
    with pytest.raises(ImportFailed) as info:
        sqlite_dataset.import_file(path)
    assert [str(p) for p in info.value.problems] == [
        "line 5: the row has 3 cells but the header has 2; quote cells that hold commas",
        "line 6: field 'reply' is required but missing",
    ]


def test_bad_bytes_in_a_csv_header_are_named(
    sqlite_dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b"text,reply,m\xe9ta\na,b,c\n")
    with pytest.raises(ImportFailed) as info:
        sqlite_dataset.import_file(path)
    first = info.value.problems[0]
    assert first.where == "line 1 (header)"
    assert first.message.startswith("byte 0xe9 at column 13 is not UTF-8")


def test_a_map_to_a_missing_column(sqlite_dataset: synthloop.Dataset, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("text,reply\na,b\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="--map text=prompt: the file has no column 'prompt'"):
        sqlite_dataset.import_file(path, mapping={"text": "prompt"})


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("rows.jsonl", b'\xef\xbb\xbf{"text": "a", "reply": "b"}\n'),
        ("rows.csv", b"\xef\xbb\xbftext,reply\na,b\n"),
    ],
)
def test_a_utf8_byte_order_mark_is_accepted(
    sqlite_dataset: synthloop.Dataset, tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert sqlite_dataset.import_file(path).added == 1
    assert next(sqlite_dataset.records()).fields == {"text": "a", "reply": "b"}


def test_parquet_import(dataset: synthloop.Dataset, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(
        [
            {
                "id": "p-1",
                "text": "hi",
                "reply": "hello",
                "conversation": [{"role": "user", "content": "hi"}],
                "metadata": '{"lang": "en"}',
                "status": "accepted",
                "priority": 1.5,
            },
            {"id": "p-2", "text": "", "reply": "empty text is text", "conversation": None},
        ]
    )
    pq.write_table(table, tmp_path / "rows.parquet")
    assert dataset.import_file(tmp_path / "rows.parquet") == ImportReport(rows=2, added=2)
    first, second = dump(dataset)
    assert first["fields"]["conversation"] == [{"role": "user", "content": "hi"}]
    assert (first["metadata"], first["status"], first["priority"]) == (
        {"lang": "en"},
        "accepted",
        1.5,
    )
    assert second["fields"] == {"text": "", "reply": "empty text is text"}


def test_parquet_problems_name_their_rows(
    sqlite_dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"text": "a", "reply": "b"}, {"text": "c", "reply": None}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rows.parquet")
    with pytest.raises(ImportFailed) as info:
        sqlite_dataset.import_file(tmp_path / "rows.parquet")
    assert [str(p) for p in info.value.problems] == ["row 2: field 'reply' is required but missing"]


def test_not_a_parquet_file(sqlite_dataset: synthloop.Dataset, tmp_path: Path) -> None:
    (tmp_path / "rows.parquet").write_bytes(b"PAR1 but not really")
    with pytest.raises(ImportFailed, match="file: not a readable Parquet file"):
        sqlite_dataset.import_file(tmp_path / "rows.parquet")


def test_datasets_folder_import(dataset: synthloop.Dataset, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [
        {"id": f"h-{i}", "question": f"q{i}", "reply": f"a{i}", "metadata": '{"split": "train"}'}
        for i in range(3)
    ]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "hf"))
    report = dataset.import_file(tmp_path / "hf", mapping={"text": "question"})
    assert report == ImportReport(rows=3, added=3)
    assert [(r["id"], r["fields"]["text"], r["metadata"]) for r in dump(dataset)] == [
        (f"h-{i}", f"q{i}", {"split": "train"}) for i in range(3)
    ]


def test_a_datasetdict_folder_is_refused_with_the_split_folders(
    sqlite_dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    datasets = pytest.importorskip("datasets")
    split = datasets.Dataset.from_list([{"text": "a", "reply": "b"}])
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "hf"))
    with pytest.raises(ImportFailed) as info:
        sqlite_dataset.import_file(tmp_path / "hf")
    (problem,) = info.value.problems
    assert problem.where == "folder"
    assert "holds several splits; import one split's folder" in problem.message
    assert str(tmp_path / "hf" / "train") in problem.message
    assert sqlite_dataset.count() == 0


def test_a_plain_folder_is_not_a_datasets_folder(
    sqlite_dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    pytest.importorskip("datasets")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ImportFailed, match="not a `datasets` folder made by save_to_disk"):
        sqlite_dataset.import_file(tmp_path / "folder")


def test_the_format_comes_from_the_suffix_or_is_given(
    sqlite_dataset: synthloop.Dataset, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "rows.txt", [simple_row(1)])
    with pytest.raises(SynthloopError, match=r"cannot tell the format from the suffix '\.txt'"):
        sqlite_dataset.import_file(path)
    assert sqlite_dataset.import_file(path, format="jsonl").added == 1
    with pytest.raises(SynthloopError, match="format 'xml' is not one of"):
        sqlite_dataset.import_file(path, format="xml")


def test_a_missing_file(sqlite_dataset: synthloop.Dataset, tmp_path: Path) -> None:
    with pytest.raises(SynthloopError, match="no such file or folder"):
        sqlite_dataset.import_file(tmp_path / "nope.jsonl")


def test_the_row_size_limit_can_be_set(sqlite_dataset: synthloop.Dataset, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [simple_row(1), simple_row(2, reply="x" * 500)])
    with pytest.raises(ImportFailed) as info:
        sqlite_dataset.import_file(path, max_row_bytes=200)
    (problem,) = info.value.problems
    assert problem.where == "line 2"
    assert "over the limit of 200 bytes per row" in problem.message
    assert sqlite_dataset.import_file(path, max_row_bytes=1000).added == 2


def test_progress_reaches_the_end(sqlite_dataset: synthloop.Dataset, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [simple_row(i) for i in range(10_000)])
    calls: list[tuple[int, int | None]] = []
    sqlite_dataset.import_file(path, progress=lambda done, total: calls.append((done, total)))
    size = path.stat().st_size
    assert calls[-1] == (size, size)
    assert all(0 <= done <= size for done, _ in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
