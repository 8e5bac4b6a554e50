"""The `serve` command: run the annotation server."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from synthloop.cli._common import Db, open_or_fail


def serve(
    db: Db = None,
    host: Annotated[
        str, typer.Option(help="Interface to listen on; 0.0.0.0 exposes it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Serve the annotation UI (log in at /) and API (under /api, docs at /docs, metrics at
    /metrics)."""
    import uvicorn  # the web stack is loaded only by the command that needs it

    open_or_fail(db, False).close()  # create or upgrade the store once, before any worker starts
    if db is not None:
        os.environ["SYNTHLOOP_DB"] = db  # each worker builds its app from the environment
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"synthloop: serving http://{shown}:{port}/ (API docs at /docs); Ctrl+C stops")
    uvicorn.run(
        "synthloop.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )
