"""The `queue` command: hand records to annotators."""

from __future__ import annotations

from typing import Annotated

import typer

from synthloop.cli._common import Db, Json, open_or_fail, out, print_json, user_errors
from synthloop.server.queue import enqueue


def queue(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset name.")],
    status: Annotated[str, typer.Option(help="Queue the records with this status.")] = "pending",
    limit: Annotated[
        int | None, typer.Option(min=0, help="Queue at most this many, highest priority first.")
    ] = None,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Queue a dataset's records for annotation (status becomes 'queued')."""
    store = open_or_fail(db, as_json)
    with user_errors(as_json):
        queued = enqueue(store.dataset(name), status, limit)
    if as_json:
        print_json({"dataset": name, "from_status": status, "queued": queued})
    else:
        out.print(f"queued {queued:,} {status} records of dataset {name!r}", markup=False)
