"""Training exports from a version: every format in every file format loads with `datasets` and
has the columns TRL expects; a human correction gives one SFT row and one DPO pair; the split is
seeded and stratified; the dataset card; the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import pytest
import typer
from typer.testing import CliRunner

import synthloop
from synthloop.cli.versions import export_training
from synthloop.errors import SynthloopError
from synthloop.export.training import COLUMNS, FILE_FORMATS, FORMATS, export_version, split
from synthloop.export.versions import create_version

runner = CliRunner()

SETTINGS = """\
guidelines: Label the request and rate the answer.
fields:
  - {name: prompt, type: text}
  - {name: response, type: markdown}
  - {name: alternative, type: text, required: false}
questions:
  - {name: intent, type: label, labels: [refund, delivery, other]}
  - {name: quality, type: rating, values: [1, 2, 3, 4, 5]}
  - {name: better, type: ranking, options: [response, alternative], required: false}
  - {name: fixed, type: text, prefill: response, required: false}
"""
_INTENTS = ["refund", "delivery", "other"]


def _row(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"r-{i:02d}",
        "prompt": f"question {i}",
        "response": f"answer {i}",
        "status": "accepted",
        "provenance": {"source": "synthetic" if i % 2 else "human"},
        "suggestions": {"intent": {"value": _INTENTS[i % 3], "score": 0.75}},
        "final": {"intent": _INTENTS[i % 3], "quality": 1 + i % 5},
        **extra,
    }


def _corrected(i: int) -> dict[str, Any]:
    final = {"intent": "refund", "quality": 2, "fixed": f"a better answer {i}"}
    return _row(i, provenance={"source": "synthetic"}, final=final)


def _ranked(i: int) -> dict[str, Any]:
    final = {"intent": "other", "quality": 4, "better": ["alternative", "response"]}
    return _row(i, alternative=f"alternative {i}", final=final)


def _store(tmp_path: Path, rows: list[dict[str, Any]]) -> synthloop.Store:
    store = synthloop.open(tmp_path / "store.db")
    store.create_dataset("qa", synthloop.Settings.loads(SETTINGS)).add(rows)
    create_version(store, "qa", tag="v-one")
    return store


@pytest.fixture
def store(tmp_path: Path) -> Any:
    rows = [_row(i) for i in range(20)] + [_corrected(20), _corrected(21), _ranked(22)]
    with _store(tmp_path, rows) as found:
        yield found


def _load(out: Path, file_format: str, cache: Path) -> datasets.DatasetDict:
    if file_format == "datasets":
        loaded = datasets.load_from_disk(str(out))
        assert isinstance(loaded, datasets.DatasetDict)
        return loaded
    suffix = {"jsonl": "jsonl", "parquet": "parquet"}[file_format]
    files = {split: str(out / f"{split}.{suffix}") for split in ("train", "test")}
    builder = "json" if file_format == "jsonl" else "parquet"
    return datasets.load_dataset(builder, data_files=files, cache_dir=str(cache))


@pytest.mark.parametrize("file_format", FILE_FORMATS)
@pytest.mark.parametrize("format", FORMATS)
def test_every_format_loads_with_the_columns_trl_expects(
    store: synthloop.Store, tmp_path: Path, format: str, file_format: str
) -> None:
    out = tmp_path / "out"
    report = export_version(
        store, "qa", "v-one", format, out, test_size=0.25, file_format=file_format
    )
    loaded = _load(out, file_format, tmp_path / "cache")
    assert set(loaded) == {"train", "test"}
    for name, rows in loaded.items():
        assert tuple(rows.column_names) == COLUMNS[format]
        assert len(rows) == report.rows[name] > 0
    first = loaded["train"][0]
    if format == "sft":
        assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    if format in ("dpo", "kto"):
        assert first["prompt"][0]["role"] == "user"
        answer = first["chosen"] if format == "dpo" else first["completion"]
        assert answer[0]["role"] == "assistant"
    if format == "kto":
        assert isinstance(first["label"], bool)
    if format == "reward":
        assert 0.0 <= first["score"] <= 1.0
        assert first["raw_score"] in range(1, 6)
    if format == "classification":
        assert first["label"] in _INTENTS
        assert first["confidence"] == 0.75
    card = (out / "README.md").read_text()
    assert "license: unspecified" in card


def test_one_corrected_record_gives_one_sft_row_and_one_dpo_pair(tmp_path: Path) -> None:
    with _store(tmp_path, [_corrected(1)]) as store:
        sft = export_version(store, "qa", 1, "sft", tmp_path / "sft", test_size=0)
        dpo = export_version(store, "qa", 1, "dpo", tmp_path / "dpo", test_size=0)
        kto = export_version(store, "qa", 1, "kto", tmp_path / "kto", test_size=0)
    assert sft.rows == {"train": 1, "test": 0}
    assert dpo.rows == {"train": 1, "test": 0}
    assert sft.files == ["train.jsonl", "README.md"]
    (row,) = _jsonl(tmp_path / "sft" / "train.jsonl")
    assert row["messages"] == [
        {"role": "user", "content": "question 1"},
        {"role": "assistant", "content": "a better answer 1"},
    ]
    (pair,) = _jsonl(tmp_path / "dpo" / "train.jsonl")
    assert pair == {
        "prompt": [{"role": "user", "content": "question 1"}],
        "chosen": [{"role": "assistant", "content": "a better answer 1"}],
        "rejected": [{"role": "assistant", "content": "answer 1"}],
    }
    assert kto.rows["train"] == 2
    labels = {
        r["completion"][0]["content"]: r["label"] for r in _jsonl(tmp_path / "kto/train.jsonl")
    }
    assert labels == {"answer 1": False, "a better answer 1": True}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_dpo_pairs_from_rankings_and_skipped_records_are_counted(
    store: synthloop.Store, tmp_path: Path
) -> None:
    report = export_version(store, "qa", 1, "dpo", tmp_path / "dpo", test_size=0)
    assert report.rows == {"train": 3, "test": 0}  # two corrections and one ranking
    assert report.skipped == {"no correction or ranking of text fields": 20}
    pairs = _jsonl(tmp_path / "dpo" / "train.jsonl")
    ranked = [p for p in pairs if p["chosen"][0]["content"] == "alternative 22"]
    assert ranked[0]["rejected"] == [{"role": "assistant", "content": "answer 22"}]


def test_the_split_is_seeded_stratified_and_keeps_a_records_rows_together() -> None:
    groups = [("synthetic", [{"n": i}, {"n": -i}]) for i in range(1, 61)]
    groups += [("human", [{"n": 100 + i}]) for i in range(20)]
    one = split(groups, 0.25, seed=3)
    assert split(groups, 0.25, seed=3) == one
    assert split(groups, 0.25, seed=4) != one
    test_ids = {r["n"] for r in one["test"]}
    assert sum(1 for n in test_ids if n >= 100) == 5  # 20 human records * 0.25
    assert sum(1 for n in test_ids if 0 < n < 100) == 15  # 60 synthetic records * 0.25
    assert all(-n in test_ids for n in test_ids if 0 < n < 100)  # a record's rows together
    assert len(one["train"]) + len(one["test"]) == 140


def test_the_dataset_card(store: synthloop.Store, tmp_path: Path) -> None:
    export_version(
        store, "qa", "v-one", "classification", tmp_path / "c", file_format="parquet", licence="mit"
    )
    card = (tmp_path / "c" / "README.md").read_text()
    assert "license: mit" in card
    assert "path: train.parquet" in card
    assert "| human_corrected | 2 |" in card
    assert "| synthetic | 10 |" in card
    assert "| intent | not measured:" in card  # no responses: no agreement to measure
    assert "## Estimated error rate of the unreviewed part" in card
    assert "not measured" in card
    assert "Label the request and rate the answer." in card


def test_export_errors(store: synthloop.Store, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(SynthloopError, match="exists and is not an empty folder"):
        export_version(store, "qa", 1, "sft", tmp_path / "full")
    with pytest.raises(SynthloopError, match="format 'ppo' is not one of"):
        export_version(store, "qa", 1, "ppo", tmp_path / "a")
    with pytest.raises(SynthloopError, match="prompt field 'nope' is not a text"):
        export_version(store, "qa", 1, "sft", tmp_path / "a", prompt_field="nope")
    with pytest.raises(SynthloopError, match="has no version 'v9'"):
        export_version(store, "qa", "v9", "sft", tmp_path / "a")
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / ".a.partial").exists()


def test_the_command(store: synthloop.Store, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(export_training)
    app.command("other")(lambda: None)  # two commands: the name is an argument
    db = str(tmp_path / "store.db")
    args = ["export-training", "qa", "--version", "1", "--format", "dpo", "--db", db]
    done = runner.invoke(app, [*args, "--out", str(tmp_path / "d"), "--test-size", "0"])
    assert done.exit_code == 0, done.output
    assert "dpo rows train 3, test 0 from 3 records" in done.output
    assert "skipped 20: no correction or ranking of text fields" in done.output
    as_json = runner.invoke(app, [*args, "--out", str(tmp_path / "e"), "--json"])
    assert json.loads(as_json.output)["files"] == ["train.jsonl", "test.jsonl", "README.md"]
    bad = runner.invoke(app, [*args, "--out", str(tmp_path / "d")])
    assert bad.exit_code == 1
    assert "not an empty folder" in bad.output


def test_a_chat_prompt_is_used_as_is(tmp_path: Path) -> None:
    settings = {
        "fields": [{"name": "chat", "type": "chat"}],
        "questions": [{"name": "ok", "type": "label", "labels": ["yes", "no"]}],
    }
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    with synthloop.open(tmp_path / "store.db") as store:
        row = {"id": "c", "chat": chat, "status": "accepted", "final": {"ok": "yes"}}
        store.create_dataset("chat", settings).add([row])
        create_version(store, "chat")
        export_version(store, "chat", 1, "sft", tmp_path / "sft", test_size=0)
        export_version(store, "chat", 1, "classification", tmp_path / "c", test_size=0)
    assert _jsonl(tmp_path / "sft" / "train.jsonl") == [{"messages": chat}]
    (row,) = _jsonl(tmp_path / "c" / "train.jsonl")
    assert row == {"text": "user: hi\nassistant: hello", "label": "yes", "confidence": None}
