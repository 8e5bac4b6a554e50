"""Commands over the store: create it, manage datasets, import, export, count, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from synthloop import demo as demo_job
from synthloop.cli._common import (
    Db,
    Json,
    Sources,
    Statuses,
    counts_table,
    open_or_fail,
    out,
    parse_map,
    print_json,
    progress,
    user_errors,
)


def init(db: Db = None, as_json: Json = False) -> None:
    """Create the store (or bring its schema up to date)."""
    store = open_or_fail(db, as_json)
    if as_json:
        print_json({"store": store.url})
    else:
        out.print(f"store ready at {store.url}", markup=False)


def datasets_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset name.")],
    settings: Annotated[Path, typer.Option(help="Settings YAML: fields, questions, guidelines.")],
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Create an empty dataset from a settings file."""
    store = open_or_fail(db, as_json)
    with user_errors(as_json):
        ds = store.create_dataset(name, settings)
    summary = {
        "name": ds.name,
        "fields": [f.name for f in ds.settings.fields],
        "questions": [q.name for q in ds.settings.questions],
    }
    if as_json:
        print_json(summary)
    else:
        out.print(
            f"created dataset {ds.name!r}: {len(summary['fields'])} fields, "
            f"{len(summary['questions'])} questions",
            markup=False,
        )


def datasets_list(db: Db = None, as_json: Json = False) -> None:
    """List the datasets with their record counts."""
    store = open_or_fail(db, as_json)
    rows = [
        {
            "name": ds.name,
            "records": ds.count(),
            "fields": len(ds.settings.fields),
            "questions": len(ds.settings.questions),
        }
        for ds in store.datasets()
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(
            "no datasets yet: create one with `synthloop datasets create NAME --settings FILE`",
            markup=False,
        )
        return
    table = Table("dataset", "records", "fields", "questions")
    for row in rows:
        table.add_row(row["name"], f"{row['records']:,}", str(row["fields"]), str(row["questions"]))
    out.print(table)


def import_(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset to import into.")],
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="JSONL, CSV or Parquet file, or a `datasets` folder made by save_to_disk.",
        ),
    ],
    format: Annotated[
        str | None,
        typer.Option(
            "--format", help="jsonl, csv, parquet or datasets. Default: from the file name."
        ),
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="FIELD=COLUMN: fill a field from a differently named column (repeatable)."
        ),
    ] = None,
    max_row_bytes: Annotated[
        int, typer.Option(help="Refuse rows larger than this many bytes.")
    ] = 16 * 1024 * 1024,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Import records; all or nothing. Rows already in the dataset are skipped."""
    mapping = parse_map(map_)
    store = open_or_fail(db, as_json)
    with user_errors(as_json), progress(f"importing {file.name}", as_json) as tick:
        report = store.dataset(name).import_file(file, format, mapping, tick, max_row_bytes)
    if as_json:
        print_json(report.to_dict())
        return
    out.print(
        f"imported {report.added:,} records into {name!r} from {report.rows:,} rows "
        f"({report.existing:,} already present, {report.repeated:,} repeated content)",
        markup=False,
    )


def export(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset to export.")],
    out_path: Annotated[Path, typer.Option("--out", help="File to write (.jsonl or .parquet).")],
    format: Annotated[
        str | None, typer.Option("--format", help="jsonl or parquet. Default: from the file name.")
    ] = None,
    status: Statuses = None,
    source: Sources = None,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Export records with everything they hold."""
    store = open_or_fail(db, as_json)
    with user_errors(as_json), progress(f"exporting {out_path.name}", as_json) as tick:
        count = store.dataset(name).export(out_path, format, status, source, tick)
    if as_json:
        print_json({"records": count, "path": str(out_path)})
    else:
        out.print(f"exported {count:,} records to {out_path}", markup=False)


def status(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset to summarise.")],
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Record counts by status and by source, and failed and rejected records by reason."""
    store = open_or_fail(db, as_json)
    with user_errors(as_json):
        ds = store.dataset(name)
        summary = {
            "dataset": name,
            "records": ds.count(),
            "by_status": ds.count(by="status"),
            "by_source": ds.count(by="source"),
            "failed_by_reason": ds.count(by="reason", status="failed"),
            "rejected_by_reason": ds.count(by="reason", status="rejected"),
        }
    if as_json:
        print_json(summary)
        return
    out.print(f"{name}: {summary['records']:,} records", markup=False)
    out.print(counts_table("by status", summary["by_status"]))
    out.print(counts_table("by source", summary["by_source"]))
    for kind in ("failed", "rejected"):
        if summary[f"{kind}_by_reason"]:
            out.print(counts_table(f"{kind} by reason", summary[f"{kind}_by_reason"]))


def demo(
    directory: Annotated[
        Path,
        typer.Option(
            "--dir", help="Where the demo writes its store and exports (replaced each run)."
        ),
    ] = Path("demo-out"),
    as_json: Json = False,
) -> None:
    """Run the main job offline on embedded sample data (SQLite, no model)."""
    with user_errors(as_json):
        summary = demo_job.run(directory, log=None if as_json else out.print)
    if as_json:
        print_json(summary)
