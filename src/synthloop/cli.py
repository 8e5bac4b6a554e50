"""The `synthloop` command: a thin shell over the Python API.

Each command parses its input, calls the library and formats the answer. Exit codes: 0 ok,
1 user error (the message names the value, the rule and the fix), 2 usage.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from synthloop import demo as demo_job
from synthloop.errors import ProblemList, SynthloopError
from synthloop.store.store import Store, open_store

__all__ = ["app", "main"]

# Plain click help (no rich panels): stable text that docs/cli.md is generated from.
_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100, "terminal_width": 100}
app = typer.Typer(
    name="synthloop",
    help="Training data from synthetic generation and human annotation.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings=_CONTEXT,
    add_completion=False,
)
datasets_app = typer.Typer(
    help="Create and list datasets.",
    rich_markup_mode=None,
    no_args_is_help=True,
    context_settings=_CONTEXT,
)
app.add_typer(datasets_app, name="datasets")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="SYNTHLOOP_DB",
        show_envvar=True,
        help="SQLite file path or database URL (e.g. postgresql+psycopg://localhost/synthloop). "
        "Default: ./synthloop.db",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Statuses = Annotated[
    list[str] | None, typer.Option("--status", help="Only records with this status (repeatable).")
]
Sources = Annotated[
    list[str] | None,
    typer.Option(
        "--source", help="Only records from this source: synthetic, human, imported (repeatable)."
    ),
]


# ---------------------------------------------------------------- plumbing


def _fail(exc: SynthloopError, as_json: bool) -> NoReturn:
    if as_json:
        body: dict[str, Any] = {"message": str(exc).splitlines()[0], "type": type(exc).__name__}
        if isinstance(exc, ProblemList):
            body["problems"] = [{"where": p.where, "message": p.message} for p in exc.problems]
            body["total"] = exc.total
        _print_json({"error": body})
    else:
        err.print(f"error: {exc}", markup=False)
    raise typer.Exit(1)


@contextmanager
def _user_errors(as_json: bool) -> Iterator[None]:
    try:
        yield
    except SynthloopError as exc:
        _fail(exc, as_json)


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr while interactive; silent in scripts and with --json."""
    if quiet or not err.is_terminal:
        yield lambda done, total: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _open(db: str | None, as_json: bool) -> Store:
    try:
        return open_store(db)
    except SynthloopError as exc:
        _fail(exc, as_json)


def _parse_map(pairs: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise typer.BadParameter(
                f"{pair!r} is not FIELD=COLUMN (e.g. --map text=question)", param_hint="--map"
            )
        mapping[field] = column
    return mapping


def _counts_table(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(title.split()[-1])
    table.add_column("records", justify="right")
    for key, value in counts.items():
        table.add_row(key, f"{value:,}")
    return table


# ---------------------------------------------------------------- commands


@app.command()
def init(db: Db = None, as_json: Json = False) -> None:
    """Create the store (or bring its schema up to date)."""
    store = _open(db, as_json)
    if as_json:
        _print_json({"store": store.url})
    else:
        out.print(f"store ready at {store.url}", markup=False)


@datasets_app.command("create")
def datasets_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset name.")],
    settings: Annotated[Path, typer.Option(help="Settings YAML: fields, questions, guidelines.")],
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Create an empty dataset from a settings file."""
    store = _open(db, as_json)
    with _user_errors(as_json):
        ds = store.create_dataset(name, settings)
    summary = {
        "name": ds.name,
        "fields": [f.name for f in ds.settings.fields],
        "questions": [q.name for q in ds.settings.questions],
    }
    if as_json:
        _print_json(summary)
    else:
        out.print(
            f"created dataset {ds.name!r}: {len(summary['fields'])} fields, "
            f"{len(summary['questions'])} questions",
            markup=False,
        )


@datasets_app.command("list")
def datasets_list(db: Db = None, as_json: Json = False) -> None:
    """List the datasets with their record counts."""
    store = _open(db, as_json)
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
        _print_json(rows)
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


@app.command("import")
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
    mapping = _parse_map(map_)
    store = _open(db, as_json)
    with _user_errors(as_json), _progress(f"importing {file.name}", as_json) as tick:
        report = store.dataset(name).import_file(file, format, mapping, tick, max_row_bytes)
    if as_json:
        _print_json(report.to_dict())
        return
    out.print(
        f"imported {report.added:,} records into {name!r} from {report.rows:,} rows "
        f"({report.existing:,} already present, {report.repeated:,} repeated content)",
        markup=False,
    )


@app.command()
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
    store = _open(db, as_json)
    with _user_errors(as_json), _progress(f"exporting {out_path.name}", as_json) as tick:
        count = store.dataset(name).export(out_path, format, status, source, tick)
    if as_json:
        _print_json({"records": count, "path": str(out_path)})
    else:
        out.print(f"exported {count:,} records to {out_path}", markup=False)


@app.command()
def status(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset to summarise.")],
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Record counts by status and by source."""
    store = _open(db, as_json)
    with _user_errors(as_json):
        ds = store.dataset(name)
        summary = {
            "dataset": name,
            "records": ds.count(),
            "by_status": ds.count(by="status"),
            "by_source": ds.count(by="source"),
        }
    if as_json:
        _print_json(summary)
        return
    out.print(f"{name}: {summary['records']:,} records", markup=False)
    out.print(_counts_table("by status", summary["by_status"]))
    out.print(_counts_table("by source", summary["by_source"]))


@app.command()
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
    with _user_errors(as_json):
        summary = demo_job.run(directory, log=None if as_json else out.print)
    if as_json:
        _print_json(summary)


def main() -> None:
    app()
