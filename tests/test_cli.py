"""The `synthloop` command: a thin shell with exit codes 0 (ok), 1 (user error), 2 (usage).

A few tests run the real command in a subprocess (exit codes, stdout/stderr, --json); the rest
use typer's in-process runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import synthloop
from helpers import read_jsonl, run_cli, simple_row, write_jsonl
from synthloop.cli import app
from synthloop.demo import SETTINGS


def _invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env={"SYNTHLOOP_DB": None})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(SETTINGS, encoding="utf-8")
    return path


@pytest.fixture
def cli_db(tmp_path: Path, settings_file: Path) -> str:
    """A SQLite store holding the dataset 'support' with two records."""
    db = str(tmp_path / "cli.db")
    with synthloop.open(db) as store:
        store.create_dataset("support", settings_file).add([simple_row(1), simple_row(2)])
    return db


# ---------------------------------------------------------------- real subprocess


@pytest.mark.slow
def test_the_whole_flow_with_json_output(tmp_path: Path, settings_file: Path) -> None:
    db = str(tmp_path / "flow.db")
    rows = write_jsonl(tmp_path / "rows.jsonl", [simple_row(i) for i in range(3)])

    init = run_cli("init", "--db", db, "--json")
    assert (init.returncode, init.stderr) == (0, "")
    assert orjson.loads(init.stdout) == {"store": f"sqlite:///{db}"}

    create = run_cli(
        "datasets", "create", "support", "--settings", str(settings_file), "--db", db, "--json"
    )
    assert create.returncode == 0, create.stderr
    assert orjson.loads(create.stdout) == {
        "name": "support",
        "fields": ["text", "reply", "conversation"],
        "questions": ["intent", "topics", "quality", "better", "corrected_reply", "claims"],
    }

    imported = run_cli("import", "support", str(rows), "--db", db, "--json")
    assert imported.returncode == 0, imported.stderr
    assert orjson.loads(imported.stdout) == {"rows": 3, "added": 3, "existing": 0, "repeated": 0}

    listed = run_cli("datasets", "list", "--db", db, "--json")
    assert orjson.loads(listed.stdout) == [
        {"name": "support", "records": 3, "fields": 3, "questions": 6}
    ]

    status = run_cli("status", "support", "--db", db, "--json")
    assert orjson.loads(status.stdout) == {
        "dataset": "support",
        "records": 3,
        "by_status": {"pending": 3},
        "by_source": {"imported": 3},
        "failed_by_reason": {},
        "rejected_by_reason": {},
    }

    out = tmp_path / "out.jsonl"
    exported = run_cli("export", "support", "--out", str(out), "--db", db, "--json")
    assert orjson.loads(exported.stdout) == {"records": 3, "path": str(out)}
    assert [r["id"] for r in read_jsonl(out)] == ["s-0", "s-1", "s-2"]


def test_a_failed_import_exits_1_naming_the_line(cli_db: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(orjson.dumps(simple_row(3)) + b"\n" + orjson.dumps(simple_row(4, reply=3)))
    result = run_cli("import", "support", str(path), "--db", cli_db)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: import failed in {path}: 1 problem",
        "  - line 2: field 'reply' (markdown): expected a string, got int 3",
        "nothing was imported: fix the rows above and run the import again",
    ]
    with synthloop.open(cli_db) as store:
        assert store.dataset("support").count() == 2


def test_a_failed_import_with_json(cli_db: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [simple_row(i, reply=i) for i in range(30)])
    result = run_cli("import", "support", str(path), "--db", cli_db, "--json")
    assert result.returncode == 1
    error = orjson.loads(result.stdout)["error"]
    assert error["type"] == "ImportFailed"
    assert error["message"] == f"import failed in {path}: 30 problems"
    assert error["total"] == 30
    assert len(error["problems"]) == 30
    assert error["problems"][0] == {
        "where": "line 1",
        "message": "field 'reply' (markdown): expected a string, got int 0",
    }


@pytest.mark.parametrize(
    "args",
    [
        ["bogus"],
        ["import", "support"],
        ["import", "support", "x.jsonl", "--map", "text"],
        ["export", "support"],
        ["status", "support", "--colour"],
    ],
    ids=["unknown-command", "missing-argument", "bad-map", "missing-out", "unknown-option"],
)
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    result = run_cli(*args, "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "Usage: " in result.stderr
    assert result.stdout == ""


def test_the_store_may_come_from_synthloop_db(cli_db: str) -> None:
    result = run_cli("datasets", "list", "--json", env={"SYNTHLOOP_DB": cli_db})
    assert result.returncode == 0, result.stderr
    assert [d["name"] for d in orjson.loads(result.stdout)] == ["support"]


@pytest.mark.slow
def test_the_simulated_demo_runs_the_whole_loop_offline(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = run_cli("demo", "--simulate", "--dir", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout)
    steps = summary["steps"]
    for step in ("curation", "pre-labels", "routing", "annotation", "records by status", "version"):
        assert step in steps
    assert "simulated annotators" in steps["annotation"]
    for fmt in ("sft", "dpo", "classification"):
        assert (folder / "exports" / fmt / "train.jsonl").is_file()
        assert (folder / "exports" / fmt / "README.md").is_file()
    assert read_jsonl(folder / "exports" / "dpo" / "train.jsonl")  # corrections made pairs
    assert (folder / "audit.html").is_file()
    again = run_cli("demo", "--simulate", "--dir", str(folder))  # replaces its folder each run
    assert again.returncode == 0, again.stderr
    assert "synthloop demo" in again.stdout


# ---------------------------------------------------------------- in process


def test_creating_a_dataset_with_bad_settings(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("fields:\n  - {name: id, type: text}\n  - {name: x, type: txt}\n")
    result = _invoke(
        "datasets", "create", "d", "--settings", str(path), "--db", str(tmp_path / "s.db")
    )
    assert result.exit_code == 1
    assert f"error: invalid dataset settings in {path}: 2 problems" in result.stderr
    assert "fields.0.name (line 2): field name 'id' is reserved" in result.stderr
    assert "fields.1 (line 3): " in result.stderr


def test_a_dataset_that_exists_or_is_missing(cli_db: str, settings_file: Path) -> None:
    result = _invoke(
        "datasets", "create", "support", "--settings", str(settings_file), "--db", cli_db
    )
    assert result.exit_code == 1
    assert "dataset 'support' already exists" in result.stderr
    result = _invoke("status", "nope", "--db", cli_db, "--json")
    assert result.exit_code == 1
    assert orjson.loads(result.stdout)["error"]["type"] == "DatasetNotFound"


def test_listing_an_empty_store(tmp_path: Path) -> None:
    result = _invoke("datasets", "list", "--db", str(tmp_path / "s.db"))
    assert result.exit_code == 0
    assert "no datasets yet" in result.stdout
    assert (
        orjson.loads(_invoke("datasets", "list", "--db", str(tmp_path / "s.db"), "--json").stdout)
        == []
    )


def test_import_csv_with_map(cli_db: str, tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text(
        'id,question,reply\nq1,"Where, exactly?",Here\nq2,When?,Now\n', encoding="utf-8"
    )
    without = _invoke("import", "support", str(path), "--db", cli_db)
    assert without.exit_code == 1
    assert "line 1 (header): column 'text' is missing" in without.stderr
    result = _invoke("import", "support", str(path), "--map", "text=question", "--db", cli_db)
    assert result.exit_code == 0, result.stderr
    assert "imported 2 records into 'support' from 2 rows" in result.stdout
    with synthloop.open(cli_db) as store:
        texts = [r.fields["text"] for r in store.dataset("support").records()]
    assert texts[-2:] == ["Where, exactly?", "When?"]


def test_import_twice_reports_existing(cli_db: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [simple_row(1), simple_row(5)])
    result = _invoke("import", "support", str(path), "--db", cli_db)
    assert "imported 1 records into 'support' from 2 rows (1 already present" in result.stdout


def test_import_max_row_bytes(cli_db: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [simple_row(5, reply="x" * 300)])
    result = _invoke("import", "support", str(path), "--max-row-bytes", "100", "--db", cli_db)
    assert result.exit_code == 1
    assert "line 1: the line is" in result.stderr
    assert "over the limit of 100 bytes per row" in result.stderr


def test_import_of_a_missing_file(cli_db: str, tmp_path: Path) -> None:
    result = _invoke("import", "support", str(tmp_path / "nope.jsonl"), "--db", cli_db)
    assert result.exit_code == 1
    assert "no such file or folder" in result.stderr


@pytest.mark.parametrize(
    ("filters", "ids"),
    [
        ([], ["s-1", "s-2", "s-3", "s-4"]),
        (["--status", "accepted"], ["s-3", "s-4"]),
        (["--source", "synthetic"], ["s-2", "s-4"]),
        (["--status", "accepted", "--status", "pending", "--source", "synthetic"], ["s-2", "s-4"]),
    ],
)
def test_export_filters(
    tmp_path: Path, settings_file: Path, filters: list[str], ids: list[str]
) -> None:
    db = str(tmp_path / "s.db")
    synthetic = {"source": "synthetic", "model": "m"}
    with synthloop.open(db) as store:
        store.create_dataset("support", settings_file).add(
            [
                simple_row(1),
                simple_row(2, provenance=synthetic),
                simple_row(3, status="accepted"),
                simple_row(4, status="accepted", provenance=synthetic),
            ]
        )
    out = tmp_path / "out.parquet"
    result = _invoke("export", "support", "--out", str(out), *filters, "--db", db)
    assert result.exit_code == 0, result.stderr
    assert f"exported {len(ids)} records to {out}" in result.stdout
    import pyarrow.parquet as pq

    assert pq.read_table(out).column("id").to_pylist() == ids


def test_export_to_an_unknown_format(cli_db: str, tmp_path: Path) -> None:
    result = _invoke("export", "support", "--out", str(tmp_path / "out.txt"), "--db", cli_db)
    assert result.exit_code == 1
    assert "format '.txt' is not one of jsonl, parquet" in result.stderr


def test_status_shows_counts(cli_db: str) -> None:
    result = _invoke("status", "support", "--db", cli_db)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("support: 2 records")
    assert "pending" in result.stdout
    assert "imported" in result.stdout
