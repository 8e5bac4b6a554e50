"""What every command shares: output consoles, common options, error and progress handling."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from synthloop.errors import ProblemList, SynthloopError
from synthloop.store.store import Store, open_store

# Plain click help (no rich panels): stable text that docs/cli.md is generated from.
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100, "terminal_width": 100}


def new_app(help: str, **kwargs: Any) -> typer.Typer:
    return typer.Typer(
        help=help, rich_markup_mode=None, no_args_is_help=True, context_settings=CONTEXT, **kwargs
    )


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
RunnerName = Annotated[
    str,
    typer.Option(
        "--runner",
        help="Where batches run: local (this process) or ray (Ray tasks; the ray extra).",
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--address",
        envvar="RAY_ADDRESS",
        show_envvar=True,
        help="--runner ray: an existing cluster (ray://HOST:10001, or auto); default: start one.",
    ),
]
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


def fail(exc: SynthloopError, as_json: bool) -> NoReturn:
    if as_json:
        body: dict[str, Any] = {"message": str(exc).splitlines()[0], "type": type(exc).__name__}
        if isinstance(exc, ProblemList):
            body["problems"] = [{"where": p.where, "message": p.message} for p in exc.problems]
            body["total"] = exc.total
        print_json({"error": body})
    else:
        err.print(f"error: {exc}", markup=False)
    raise typer.Exit(1)


@contextmanager
def user_errors(as_json: bool, data_errors: bool = False) -> Iterator[None]:
    """Turn SynthloopError into exit 1 with its message. With `data_errors`, ValueError too: the
    quality functions raise it for data they cannot measure, which is the user's input."""
    try:
        yield
    except SynthloopError as exc:
        fail(exc, as_json)
    except ValueError as exc:
        if not data_errors:
            raise
        fail(SynthloopError(str(exc)), as_json)


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


@contextmanager
def progress(label: str, quiet: bool) -> Iterator[Callable[[int, int | None], None]]:
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


def open_or_fail(db: str | None, as_json: bool) -> Store:
    try:
        return open_store(db)
    except SynthloopError as exc:
        fail(exc, as_json)


def parse_map(pairs: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise typer.BadParameter(
                f"{pair!r} is not FIELD=COLUMN (e.g. --map text=question)", param_hint="--map"
            )
        mapping[field] = column
    return mapping


def counts_table(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(title.split()[-1])
    table.add_column("records", justify="right")
    for key, value in counts.items():
        table.add_row(key, f"{value:,}")
    return table
