"""Commands over the store: create it, manage datasets, import, export, count, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from synthloop import demo_loop as demo_job
from synthloop.cli._common import (
    Db,
    Json,
    Sources,
    Statuses,
    counts_table,
    fail,
    open_or_fail,
    out,
    parse_map,
    print_json,
    progress,
    user_errors,
)
from synthloop.errors import SynthloopError
from synthloop.store.store import Store


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
    out_path: Annotated[
        Path,
        typer.Option(
            "--out", help="File to write (.jsonl or .parquet); with --version, a new folder."
        ),
    ],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="jsonl or parquet (default: from the file name); with --version: sft, dpo, "
            "reward, kto or classification.",
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="Export this version (number or tag) as training data."),
    ] = None,
    status: Statuses = None,
    source: Sources = None,
    test_size: Annotated[
        float, typer.Option(help="--version: share of records in the test split.")
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="--version: seed of the train/test split.")] = 0,
    file_format: Annotated[
        str, typer.Option("--file-format", help="--version: jsonl, parquet or datasets.")
    ] = "jsonl",
    prompt_field: Annotated[
        str | None, typer.Option(help="--version: the field used as the prompt.")
    ] = None,
    response_field: Annotated[
        str | None, typer.Option(help="--version: the field used as the response.")
    ] = None,
    ranking_pairs: Annotated[
        str, typer.Option(help="--version: DPO pairs from rankings: best-vs-each, best-vs-worst.")
    ] = "best-vs-each",
    licence: Annotated[
        str, typer.Option(help="--version: licence named in the dataset card.")
    ] = "unspecified",
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Export records with everything they hold, or (--version) a version as training data:
    train/test files and a README.md dataset card."""
    if version is not None:
        from synthloop.cli.versions import export_training

        if status or source:
            fail(
                SynthloopError(
                    "--status and --source filter a plain export; a version holds its accepted "
                    "records as frozen; drop them, or export without --version"
                ),
                as_json,
            )
        export_training(
            name,
            version=version,
            format=format or "sft",
            out_path=out_path,
            test_size=test_size,
            seed=seed,
            file_format=file_format,
            prompt_field=prompt_field,
            response_field=response_field,
            ranking_pairs=ranking_pairs,
            licence=licence,
            db=db,
            as_json=as_json,
        )
        return
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
        Path, typer.Option("--dir", help="The demo project's folder (replaced each run).")
    ] = Path("synthloop-demo"),
    simulate: Annotated[
        bool,
        typer.Option(
            "--simulate", help="Simulated annotators finish the round headless (no web UI)."
        ),
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Web UI port without --simulate.")
    ] = 8000,
    as_json: Json = False,
) -> None:
    """Run the whole loop offline on embedded defaults (SQLite, no model): seeds, offline
    generation, curation, pre-labels, routing, annotation (the web UI, or --simulate),
    aggregation, a version, SFT/DPO/classification exports and an audit report."""
    with user_errors(as_json):
        report = demo_job.run(
            directory,
            simulate=simulate,
            port=port,
            log=None if as_json else (lambda line: out.print(line, markup=False)),
            serve=_serve_in_background,
        )
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(title="synthloop demo", title_justify="left")
    table.add_column("step")
    table.add_column("result")
    for label, value in report.steps:
        table.add_row(label, value)
    out.print(table)
    out.print(f"done in {report.seconds:.1f} s; everything is in {directory}", markup=False)


def _serve_in_background(store: Store, port: int) -> Any:
    """The annotation server for the demo's store, on a thread, until the demo stops it."""
    import threading

    import uvicorn

    from synthloop.server.app import create_app

    config = uvicorn.Config(create_app(store.url), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    class _Handle:
        def stop(self) -> None:
            server.should_exit = True
            thread.join(timeout=10)

    return _Handle()
