"""The `serve` command: run the annotation server."""

from __future__ import annotations

import os
import socket
import sys
from typing import Annotated

import typer

from synthloop.cli._common import Db, fail, open_or_fail
from synthloop.errors import SynthloopError

_APP = "synthloop.server.app:app_from_env"


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
    if workers > 1 and sys.platform == "linux":
        _serve_reuseport(host, port, workers)
        return
    uvicorn.run(_APP, factory=True, host=host, port=port, workers=workers, log_level="warning")


# ---------------------------------------------------------------- several workers on Linux
#
# uvicorn's own workers share one listening socket, and whichever worker wakes first accepts
# every connection waiting: 32 annotators connecting at once landed 32/0 or 30/2 on two workers
# (4 tries), so one worker served nearly everything while the other idled. On Linux each worker
# here listens on a socket of its own, all bound to the port with SO_REUSEPORT, and the kernel
# spreads new connections across them. (uvicorn's supervisor also restarts a worker that dies;
# here the others keep serving, and the kernel stops sending connections to the dead one's port
# share once its socket is closed.)


def _serve_reuseport(host: str, port: int, workers: int) -> None:
    import multiprocessing
    import signal
    import threading

    # A plain bind first: SO_REUSEPORT alone would let this server join another one already on
    # the port (say, over another database) and silently split its traffic. Bound here, in the
    # parent, so a port in use fails before any worker starts.
    port = _free_to_share(host, port)
    sockets = [_listener(host, port) for _ in range(workers)]
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_worker, args=(sock,)) for sock in sockets]
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for process in processes:
        process.start()
    for sock in sockets:
        sock.close()  # each worker holds its own now
    while not stop.is_set() and any(p.is_alive() for p in processes):
        stop.wait(0.5)
    for process in processes:
        if process.is_alive():
            process.terminate()  # uvicorn shuts down gracefully on SIGTERM
    for process in processes:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()


def _free_to_share(host: str, port: int) -> int:
    """The port (a free one for 0), after checking that nothing listens on it."""
    with _listener(host, port, reuse_port=False) as probe:
        return int(probe.getsockname()[1])


def _listener(host: str, port: int, reuse_port: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(SynthloopError(f"cannot listen on {host}:{port}: {exc.strerror}"), False)
    sock.listen(2048)  # uvicorn's default backlog
    return sock


def _worker(sock: socket.socket) -> None:
    """One server process (spawned): uvicorn on its own listening socket."""
    import uvicorn

    config = uvicorn.Config(_APP, factory=True, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])
