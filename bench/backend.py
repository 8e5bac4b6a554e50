"""Requests per second through the `openai` backend against the local chat-completions server.

    .venv/bin/python bench/backend.py                       # concurrency 50 and 500, no latency
    .venv/bin/python bench/backend.py --latency 0.2 -n 5000 --concurrency 50 1000
    .venv/bin/python bench/backend.py --httpx               # also a bare httpx.AsyncClient

The server (synthloop.generate.llm.testing) runs in a process of its own so that its CPU is not
the client's. Each row prints requests/s, the client's CPU milliseconds per request and, with a
latency, the ceiling (concurrency / latency) and the share of it reached. Figures, never a
pass or fail.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
import orjson

from synthloop.generate.llm import Params, Request, get_backend

Send = Callable[[Request], Awaitable[object]]


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "synthloop.generate.llm.testing", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


async def drive(send: Send, n: int, concurrency: int) -> None:
    """`n` distinct requests through `concurrency` workers, each one request at a time."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await send(
                Request(
                    messages=[{"role": "user", "content": f"Write item {i}."}],
                    params=Params(temperature=0.7, max_tokens=64),
                )
            )

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def backend_row(base_url: str, n: int, concurrency: int) -> tuple[float, float]:
    async with get_backend(
        "openai", base_url=base_url, model="bench", max_concurrency=concurrency, timeout=120
    ) as backend:
        await drive(backend.complete, min(n, concurrency * 2), concurrency)  # warm the pool
        return await timed(drive(backend.complete, n, concurrency))


async def httpx_row(base_url: str, n: int, concurrency: int) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def send(request: Request) -> object:
            body = {"model": "bench", "messages": request.messages, **request.params.to_body()}
            response = await client.post(f"{base_url}/chat/completions", content=orjson.dumps(body))
            return orjson.loads(response.content)["choices"][0]["message"]["content"]

        await drive(send, min(n, concurrency * 2), concurrency)
        return await timed(drive(send, n, concurrency))


async def timed(work: Awaitable[None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    await work
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=20_000, help="requests per row")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--latency", type=float, default=0.0, help="server seconds per answer")
    parser.add_argument("--httpx", action="store_true", help="also time a bare httpx client")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    server, base_url = start_server(args.latency)
    print(f"server {base_url} latency {args.latency:g} s, n={args.n}, client loop {loop_name}")
    clients = [("openai backend (aiohttp)", backend_row)]
    if args.httpx:
        clients.append(("bare httpx.AsyncClient", httpx_row))
    try:
        for concurrency in args.concurrency:
            for name, row in clients:
                wall, cpu = asyncio.run(row(base_url, args.n, concurrency))
                line = (
                    f"{name:26} concurrency {concurrency:5}: {args.n / wall:8.0f} requests/s, "
                    f"client CPU {cpu / args.n * 1000:.3f} ms/request"
                )
                if args.latency:
                    ceiling = concurrency / args.latency
                    line += f", ceiling {ceiling:.0f}/s ({args.n / wall / ceiling:.0%})"
                print(line, flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
