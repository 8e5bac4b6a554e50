"""`synthloop backup --out DIR` and `synthloop restore DIR`: a whole store to a folder and back,
e.g. before an upgrade or to move from SQLite to PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from synthloop import backup as backups
from synthloop.cli._common import Db, Json, open_or_fail, out, print_json, user_errors

__all__ = ["backup", "restore"]


def backup(
    out_path: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="A new or empty folder to write.")
    ],
    cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="Keep the generation cache too.")
    ] = True,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Write every dataset, record, answer, user and version to a folder (JSONL + manifest).

    The folder holds password and token hashes: keep it as secret as the database.
    """
    with open_or_fail(db, as_json) as store, user_errors(as_json):
        report = backups.backup(store, out_path, cache=cache)
    _report(report, f"backup of {store.url} written to {out_path}", as_json)


def restore(
    source: Annotated[
        Path, typer.Argument(metavar="DIR", help="A folder written by `synthloop backup`.")
    ],
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Load a backup into an empty store, checking every file's sha256 first; all or nothing."""
    with open_or_fail(db, as_json) as store, user_errors(as_json):
        report = backups.restore(store, source)
    _report(report, f"{source} restored into {store.url}", as_json)


def _report(report: backups.BackupReport, title: str, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(title=title, title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in report.counts.items():
        table.add_row(name, f"{rows:,}")
    out.print(table)
