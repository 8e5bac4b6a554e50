"""Records per second through the whole generation pipeline, against the latency-bound ceiling.

    .venv/bin/python bench/generate.py                    # N=5,000, concurrency 50 and 1,000
    .venv/bin/python bench/generate.py --postgres         # also on PostgreSQL (a fresh schema)
    .venv/bin/python bench/generate.py -n 2000 --concurrency 50 --repeat 1 --profile prof.out

Each run generates N `responses` records from a generated prompts file into a fresh store with
`synthloop.generate.pipeline.generate`, in this process, against the local chat-completions
server (synthloop.generate.llm.testing) in a process of its own with a fixed latency, so its CPU
is not the client's. The same requests are also sent by `synthloop.generate.runner.run` alone,
with no store and no cache, so that the pipeline's own cost (rendering units, the cache, the
writes) shows as the difference: a pipeline row times the whole `generate` call (reading the
prompts, rendering the units, creating the dataset, every write); a runner row times the sending
only, the units rendered beforehand.

With every answer taking `latency` seconds and `c` requests in flight, N requests need at least
ceil(N / c) rounds, so the ceiling is N / (ceil(N / c) * latency) records/s (c / latency when c
divides N). A row prints the median over --repeat runs of: records/s, its share of the ceiling,
the client process's CPU per record (user + sys from getrusage, every thread of this process)
and the requests sent. Figures, never a pass or fail.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import math
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import create_engine, text

import synthloop
from synthloop.generate.pipeline import generate
from synthloop.generate.recipe import Recipe
from synthloop.generate.runner import run
from synthloop.generate.setup import prepare

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1/test"

Place = Callable[[Path], AbstractContextManager[str]]  # a fresh store's URL or path, removed after


@dataclass(frozen=True)
class Figures:
    seconds: float
    cpu: float  # client CPU seconds, user + sys
    requests: int
    records: int


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "synthloop.generate.llm.testing", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def write_prompts(path: Path, n: int) -> None:
    path.write_bytes(
        b"".join(
            orjson.dumps({"prompt": f"Write a short answer to question {i}."}) + b"\n"
            for i in range(n)
        )
    )


def recipe_for(folder: Path, base_url: str, concurrency: int) -> Recipe:
    path = folder / f"recipe-{concurrency}.yaml"
    backend = {
        "type": "openai",
        "base_url": base_url,
        "model": "bench",
        "max_concurrency": concurrency,
        "timeout": 300,
    }
    recipe = {
        "dataset": "bench",
        "task": "responses",
        "source": {"file": "prompts.jsonl", "field": "prompt"},
        "backend": backend,
        "params": {"temperature": 0.7, "max_tokens": 64},
    }
    path.write_bytes(orjson.dumps(recipe))  # JSON is YAML
    return Recipe.load(path)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pipeline_run(recipe: Recipe, db: str, runner: str | None = None) -> Figures:
    """The whole `generate()` call timed (on `runner`: local by default), with this process's
    CPU (user + sys, every thread) over it."""
    with synthloop.open(db) as store:
        wall, cpu = time.perf_counter(), cpu_seconds()
        report = generate(store, recipe, runner=runner)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        stored = store.dataset("bench").count()
    if report.ok != stored or report.failed:
        raise SystemExit(f"the pipeline stored {stored} records, failed {dict(report.failed)}")
    return Figures(wall, cpu, report.requests_sent, stored)


def runner_run(recipe: Recipe, scratch: str) -> Figures:
    """The pipeline's requests through the runner alone: rendered from a store that holds
    nothing (so every unit is to do), sent with no cache and no writes."""
    with synthloop.open(scratch) as store:
        plan = prepare(store, recipe, retry_failed=False)
    items = [(unit.key, unit.requests[0]) for unit in plan.todo]

    async def send() -> int:
        async with plan.backend as backend:
            report = await run(backend, items, concurrency=recipe.backend.max_concurrency)
        if report.ok != len(items):
            raise SystemExit(f"the runner answered {report.ok} of {len(items)}: {report.failed}")
        return report.requests_sent

    wall, cpu = time.perf_counter(), cpu_seconds()
    sent = asyncio.run(send())
    return Figures(time.perf_counter() - wall, cpu_seconds() - cpu, sent, len(items))


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema in the PostgreSQL database at `url`, dropped afterwards: the URL to it."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    joiner = "&" if "?" in url else "?"
    try:
        yield f"{url}{joiner}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def sqlite_file(folder: Path) -> Iterator[str]:
    path = folder / f"bench-{uuid.uuid4().hex[:12]}.db"
    try:
        yield str(path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{model}, {cores} cores usable; {platform.system()} {platform.release()}; "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def ceiling(n: int, concurrency: int, latency: float) -> float:
    return n / (math.ceil(n / concurrency) * latency)


def row(label: str, runs: list[Figures], n: int, concurrency: int, latency: float) -> str:
    rate = statistics.median(f.records / f.seconds for f in runs)
    cpu_ms = statistics.median(f.cpu / f.records * 1000 for f in runs)
    sent = statistics.median(f.requests for f in runs)
    top = ceiling(n, concurrency, latency)
    return (
        f"{label:18} {concurrency:>6} {rate:>9,.0f} {top:>9,.0f} {rate / top:>7.1%} "
        f"{cpu_ms:>12.3f} {sent:>9,.0f}"
    )


HEADER = (
    f"{'':18} {'conc.':>6} {'records/s':>9} {'ceiling':>9} {'of ceil':>7} "
    f"{'CPU ms/rec':>12} {'requests':>9}"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=5_000, help="records per run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 1_000])
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds per answer")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the median prints")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=LOCAL_POSTGRES,
        metavar="URL",
        help=f"also run the pipeline on PostgreSQL (default URL {LOCAL_POSTGRES}), each run "
        "in a fresh schema",
    )
    parser.add_argument("--no-runner", action="store_true", help="skip the runner-alone rows")
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="cProfile the pipeline runs (SQLite) into PATH and print the top costs",
    )
    args = parser.parse_args()

    server, base_url = start_server(args.latency)
    print(machine())
    print(
        f"server {base_url} (own process), latency {args.latency:g} s; N={args.n:,} `responses` "
        f"records a run; median of {args.repeat} runs; event loop: asyncio (as the CLI runs it)"
    )
    print(HEADER, flush=True)
    profiles: list[str] = []
    stores: list[tuple[str, Place]] = [("sqlite", sqlite_file)]
    if args.postgres:
        url = args.postgres
        stores.append(("postgres", lambda _folder: postgres_schema(url)))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_prompts(folder / "prompts.jsonl", args.n)
            for concurrency in args.concurrency:
                recipe = recipe_for(folder, base_url, concurrency)
                if not args.no_runner:
                    runs = [
                        runner_run(recipe, str(folder / f"scratch-{i}.db"))
                        for i in range(args.repeat)
                    ]
                    print(row("runner alone", runs, args.n, concurrency, args.latency), flush=True)
                for name, place in stores:
                    runs = []
                    for _ in range(args.repeat):
                        with place(folder) as db:
                            runs.append(pipeline_run(recipe, db))
                    label = f"pipeline, {name}"
                    print(row(label, runs, args.n, concurrency, args.latency), flush=True)
                if args.profile:
                    profiles.append(profile(recipe, folder, f"{args.profile}.c{concurrency}"))
    finally:
        server.terminate()
        server.wait()
    for report in profiles:
        print(report)


def profile(recipe: Recipe, folder: Path, path: str) -> str:
    """One more pipeline run on SQLite under cProfile (after the timed ones, which it would
    slow): the stats go to `path`, the top costs by own time are returned. cProfile sees the
    event loop's thread only; the writer's transactions run in worker threads."""
    profiler = cProfile.Profile()
    with sqlite_file(folder) as db:
        figures = profiler.runcall(pipeline_run, recipe, db)
    profiler.dump_stats(path)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    head = (
        f"\ncProfile, pipeline on SQLite, concurrency {recipe.backend.max_concurrency}: "
        f"{figures.records / figures.seconds:,.0f} records/s under the profiler; stats in {path}"
    )
    return head + out.getvalue()


if __name__ == "__main__":
    main()
