"""Issue 8 at scale on this machine: figures and ratios, never a pass or fail.

    .venv/bin/python bench/scale.py                          # every section at the issue's sizes
    .venv/bin/python bench/scale.py --quick                  # ~1/10 the sizes: a smoke run
    .venv/bin/python bench/scale.py --only dedup generate    # some sections

import    1,000,000 flat records into SQLite and PostgreSQL through bench/import.py's
          `bench_backend` (import, re-import, export JSONL, export Parquet; a fresh store each).
dedup     1,000,000 documents with planted near-duplicates (bench/curate.py's corpus), near
          dedup end to end through `curate()` with the local runner, then with the Ray runner
          (a local cluster on this machine's cores): docs/s each, the ratio ray/local, Ray's
          start-up timed apart from the run, and whether both runs reject the same record ids
          for the same reasons.
generate  20,000 `responses` records at concurrency 2,000 through `generate()` against the fake
          chat-completions server in its own process (0.2 s an answer; bench/generate.py), on
          SQLite and PostgreSQL, and with the Ray runner: records/s against the ceiling
          (concurrency / latency) and this process's CPU ms per record.
server    `synthloop serve --workers 4` on PostgreSQL under bench/server.py's asyncio annotator
          load with 32 and 64 annotators: annotations/s, p50 and p99 per annotation.

PostgreSQL is the server at postgresql+psycopg://postgres@127.0.0.1/test, each run in a fresh
schema; when it cannot be reached its rows are skipped, saying so. Each figure is one run unless
--repeats says otherwise (then the median). A summary table and one sentence per section close
the run; a sentence states only what the figures above it show.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

# The other benches are scripts in this folder, not a package: import them from here.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import curate as curate_bench
import generate as generate_bench
import server as server_bench
from synthloop.curate.run import curate
from synthloop.generate.pipeline import generate
from synthloop.generate.recipe import Recipe
from synthloop.store.store import Store

import_bench = importlib.import_module("import")  # `import` is a keyword: no import statement

_T = TypeVar("_T")
SORTED = orjson.OPT_SORT_KEYS  # details compared as JSON, key order aside

PG = "postgresql+psycopg://postgres@127.0.0.1/test"
SECTIONS = ("import", "dedup", "generate", "server")
LATENCY = 0.2  # seconds the fake chat-completions server takes per answer
EDITS = (0.01, 0.05)  # bench/curate.py's default: 1-5% of a copy's words edited
DEDUP = [{"step": "dedup", "mode": "near"}]
SERVER_WORKERS = 4
ANNOTATORS = (32, 64)


@dataclass(frozen=True)
class Sizes:
    records: int  # import
    docs: int  # dedup
    prompts: int  # generate
    concurrency: int  # generate
    queued: int  # server: records in the annotation queue


FULL = Sizes(records=1_000_000, docs=1_000_000, prompts=20_000, concurrency=2_000, queued=2_000)
QUICK = Sizes(records=100_000, docs=100_000, prompts=2_000, concurrency=200, queued=200)


@dataclass
class Summary:
    """What the closing table and sentences print: (section, what, figure) rows and one
    sentence per section."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)
    sentences: dict[str, str] = field(default_factory=dict)

    def add(self, section: str, what: str, figure: str) -> None:
        self.rows.append((section, what, figure))

    def print(self) -> None:
        print("\nsummary")
        for section, what, figure in self.rows:
            print(f"  {section:<9} {what:<38} {figure}")
        print()
        for section in SECTIONS:
            if section in self.sentences:
                print(f"{section}: {self.sentences[section]}")


# ------------------------------------------------------------------ the Ray runner


def ray_runner(entry: Callable[..., Any]) -> str | None:
    """The runner name "ray" when `entry` (curate or generate) takes `runner=`, else None,
    saying so: the Ray rows wait for the runner."""
    if "runner" in inspect.signature(entry).parameters:
        return "ray"
    print(f"  ray runner not available: {entry.__module__}.{entry.__name__} has no runner=")
    return None


def start_ray() -> float:
    """Seconds to start the local Ray cluster (0 when it is already up), timed apart from any
    run and printed: the runner then finds Ray started and uses it."""
    import ray

    if ray.is_initialized():
        return 0.0
    start = time.perf_counter()
    ray.init(
        num_cpus=_cores(),
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    seconds = time.perf_counter() - start
    print(f"  ray start-up (ray.init, {_cores()} CPUs): {seconds:.1f} s, not in the rows")
    return seconds


def attempt(label: str, action: Callable[[], _T]) -> _T | None:
    """`action()`, or None after printing why it failed: a Ray row that breaks should not
    lose the figures of the rows around it."""
    try:
        return action()
    except Exception as exc:  # any failure of the runner under test is a finding to print
        first = (str(exc).splitlines() or [""])[0][:300]
        print(f"  {label}: FAILED, {type(exc).__name__}: {first}", flush=True)
        return None


def machine_busy() -> float:
    """Core-seconds every core of the machine has spent busy since boot (/proc/stat; 0 where
    there is none): over a run, Ray's worker processes count too, and so does anything else
    running on the machine then."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _cores() -> int:
    return len(os.sched_getaffinity(0))


# ------------------------------------------------------------------ import


def import_section(sizes: Sizes, repeats: int, postgres: bool, summary: Summary) -> None:
    path = import_bench.input_file(sizes.records)
    size = path.stat().st_size / 1e6
    print(f"\n== import: {sizes.records:,} flat records ({path.name}, {size:,.0f} MB)")
    rates: dict[str, float] = {}
    for name in ("sqlite", "postgres") if postgres else ("sqlite",):
        rates[name] = import_bench.bench_backend(name, path, repeats)["import"]
        summary.add("import", f"{name}, {sizes.records:,} records", f"{rates[name]:,.0f} rec/s")
    sentence = f"{sizes.records:,} records imported at {rates['sqlite']:,.0f} records/s on SQLite"
    if "postgres" in rates:
        ratio = rates["postgres"] / rates["sqlite"]
        sentence += f" and {rates['postgres']:,.0f} on PostgreSQL ({ratio:.2f}x SQLite's rate)"
    summary.sentences["import"] = sentence + "."


# ------------------------------------------------------------------ dedup


@dataclass(frozen=True)
class DedupRun:
    seconds: float  # curate() end to end
    step: float  # the dedup step alone, as curate() reports it; the rest is read + write
    cpu: float  # this process's CPU seconds (user + sys): not Ray's workers
    busy: float  # the whole machine's busy core-seconds: Ray's workers too
    decisions: dict[str, tuple[str, str]]  # rejected external id -> (reason, details as JSON)


def dedup_run(template: Path, runner: str | None) -> DedupRun:
    """Near dedup through `curate()` on a fresh copy of the store: seconds end to end (read,
    step, write), CPU, and every rejection."""
    path = template.with_name("run.db")
    shutil.copy(template, path)
    options: dict[str, Any] = {} if runner is None else {"runner": runner}
    try:
        with Store(path) as store:
            start, cpu, busy = time.perf_counter(), generate_bench.cpu_seconds(), machine_busy()
            report = curate(store, "docs", DEDUP, **options)
            seconds, cpu = time.perf_counter() - start, generate_bench.cpu_seconds() - cpu
            busy = machine_busy() - busy
            decisions = _decisions(store)
    finally:
        path.unlink()
    return DedupRun(seconds, report.steps[0].seconds, cpu, busy, decisions)


def _decisions(store: Store) -> dict[str, tuple[str, str]]:
    return {
        r.external_id or "": (
            r.reason or "",
            orjson.dumps(r.metadata["curation"]["details"], option=SORTED).decode(),
        )
        for r in store.dataset("docs").records(status="rejected")
    }


def dedup_section(sizes: Sizes, repeats: int, summary: Summary) -> None:
    n = sizes.docs
    print(f"\n== dedup: {n:,} documents, near dedup end to end through curate()")
    start = time.perf_counter()
    data = curate_bench.corpus(n, EDITS)
    with tempfile.TemporaryDirectory(prefix="synthloop-scale-") as folder:
        template = curate_bench.make_store(Path(folder), data)
        print(
            f"  corpus: {len(data.pairs):,} planted copies; built and stored in "
            f"{time.perf_counter() - start:.1f} s (not timed below)",
            flush=True,
        )
        local = _dedup_rows("local", [dedup_run(template, None) for _ in range(repeats)], n)
        summary.add("dedup", f"local, {n:,} docs", f"{n / local.seconds:,.0f} docs/s")
        runner = ray_runner(curate)
        if runner is None:
            summary.sentences["dedup"] = (
                f"local near dedup ran at {n / local.seconds:,.0f} docs/s; "
                "ray runner not available, so no ratio."
            )
            return
        startup = start_ray()
        runs = attempt("ray", lambda: [dedup_run(template, runner) for _ in range(repeats)])
    if runs is None:
        summary.add("dedup", f"ray, {n:,} docs", "failed (see above)")
        summary.sentences["dedup"] = "the Ray run failed (the error is above), so no ratio."
        return
    _dedup_compare(local, _dedup_rows("ray", runs, n), startup, n, summary)


def _dedup_rows(label: str, runs: list[DedupRun], n: int) -> DedupRun:
    """Print the median run; return it (with the first run's decisions)."""

    def middle(value: Callable[[DedupRun], float]) -> float:
        return statistics.median(value(r) for r in runs)

    median = DedupRun(
        middle(lambda r: r.seconds),
        middle(lambda r: r.step),
        middle(lambda r: r.cpu),
        middle(lambda r: r.busy),
        runs[0].decisions,
    )
    print(
        f"  {label:<6} {median.seconds:6.1f} s {n / median.seconds:>8,.0f} docs/s  "
        f"(dedup step {median.step:.1f} s, read + write {median.seconds - median.step:.1f} s)  "
        f"{len(median.decisions):,} rejected  cores busy: this process "
        f"{median.cpu / median.seconds:.2f}, machine {median.busy / median.seconds:.2f}",
        flush=True,
    )
    return median


def _dedup_compare(
    local: DedupRun, ray: DedupRun, startup: float, n: int, summary: Summary
) -> None:
    ratio = local.seconds / ray.seconds  # ray's docs/s over local's
    same = local.decisions == ray.decisions
    print(
        f"  ratio ray/local (docs/s): {ratio:.2f}; "
        f"of the dedup step alone: {local.step / ray.step:.2f}"
    )
    print(f"  identical decisions: {'yes' if same else 'no'}")
    if not same:
        _print_differences(local.decisions, ray.decisions)
    summary.add("dedup", f"ray, {n:,} docs", f"{n / ray.seconds:,.0f} docs/s")
    summary.add("dedup", "ray/local ratio", f"{ratio:.2f}")
    summary.add("dedup", "ray start-up (apart)", f"{startup:.1f} s")
    summary.add("dedup", "identical decisions", "yes" if same else "no")
    summary.sentences["dedup"] = _dedup_sentence(local, ray, startup) + (
        f"; decisions {'identical' if same else 'DIFFERENT'}."
    )


def _dedup_sentence(local: DedupRun, ray: DedupRun, startup: float) -> str:
    """What the two runs show, in figures: the ratio with and without start-up, the step's
    own ratio, and the core-seconds each took."""
    ratio = local.seconds / ray.seconds
    counted = local.seconds / (ray.seconds + startup)
    return (
        f"on {_cores()} cores Ray was {_compared(ratio)} local: {ratio:.2f}x the docs/s "
        f"({counted:.2f}x counting its {startup:.1f} s start-up); the dedup step alone "
        f"{local.step:.1f} s -> {ray.step:.1f} s, while reading and writing the records stays "
        f"in this process either way; the machine's busy core-seconds: {ray.busy:.0f} with "
        f"Ray, {local.busy:.0f} local - {_verdict(ratio, counted)}"
    )


def _compared(ratio: float) -> str:
    # Within 5% a single run cannot tell the two apart; say so rather than pick a winner.
    if ratio < 0.95:
        return "slower than"
    return "about level with" if ratio <= 1.05 else "faster than"


def _verdict(ratio: float, counted: float) -> str:
    """`ratio` leaves Ray's start-up out, `counted` takes it in."""
    if ratio < 0.95:
        return "here Ray's overhead costs more than the second core gives back"
    if ratio <= 1.05:
        return "here Ray's overhead and the second core's gain about cancel out"
    if counted < 1:
        return "here the second core gives back more than Ray's running costs, not its start-up"
    return "here the second core gives back more than Ray's overhead costs"


def _print_differences(a: dict[str, tuple[str, str]], b: dict[str, tuple[str, str]]) -> None:
    only_a, only_b = a.keys() - b.keys(), b.keys() - a.keys()
    changed = [k for k in a.keys() & b.keys() if a[k] != b[k]]
    print(
        f"    rejected by local only: {len(only_a):,}; by ray only: {len(only_b):,}; "
        f"reason or details (kept record, similarity) differ: {len(changed):,}; "
        f"e.g. {sorted(changed)[:3]}"
    )


# ------------------------------------------------------------------ generate


Place = Callable[[Path], AbstractContextManager[str]]


def generate_section(sizes: Sizes, repeats: int, postgres: bool, summary: Summary) -> None:
    n, c = sizes.prompts, sizes.concurrency
    top = generate_bench.ceiling(n, c, LATENCY)
    print(f"\n== generate: {n:,} records at concurrency {c:,}, server latency {LATENCY:g} s")
    places: list[tuple[str, Place, str | None]] = [("sqlite", generate_bench.sqlite_file, None)]
    if postgres:
        places.append(("postgres", lambda _folder: generate_bench.postgres_schema(PG), None))
    if ray_runner(generate):
        places.append(("sqlite, ray", generate_bench.sqlite_file, "ray"))
    server, base_url = generate_bench.start_server(LATENCY)
    rates: dict[str, tuple[float, float]] = {}  # name -> (records/s, machine cores busy)
    try:
        with tempfile.TemporaryDirectory(prefix="synthloop-scale-") as tmp:
            folder = Path(tmp)
            generate_bench.write_prompts(folder / "prompts.jsonl", n)
            recipe = generate_bench.recipe_for(folder, base_url, c)
            print(f"  {generate_bench.HEADER}   machine cores busy")
            for name, place, runner in places:
                runs = _generate_rows(name, recipe, place, folder, runner, repeats)
                if runs is None:
                    summary.add("generate", name, "failed (see above)")
                    continue
                rates[name] = _generate_row(name, runs, sizes)
                rate = rates[name][0]
                summary.add("generate", name, f"{rate:,.0f} rec/s ({rate / top:.0%})")
    finally:
        server.terminate()
        server.wait()
    print(
        "  (CPU ms/rec: this process only, not Ray's workers; machine cores busy: every "
        "process, the fake server's included)"
    )
    summary.sentences["generate"] = _generate_sentence(rates, top)


Run = tuple[generate_bench.Figures, float]  # a run's figures, the machine's busy core-seconds


def _generate_rows(
    name: str, recipe: Recipe, place: Place, folder: Path, runner: str | None, repeats: int
) -> list[Run] | None:
    """`repeats` runs; on the Ray runner, started first (timed apart) and failures printed."""
    if runner is None:
        return [_generate_once(recipe, place, folder, None) for _ in range(repeats)]
    start_ray()
    return attempt(
        name, lambda: [_generate_once(recipe, place, folder, runner) for _ in range(repeats)]
    )


def _generate_once(recipe: Recipe, place: Place, folder: Path, runner: str | None) -> Run:
    with place(folder) as db:
        busy = machine_busy()
        figures = generate_bench.pipeline_run(recipe, db, runner)
        return figures, machine_busy() - busy


def _generate_row(name: str, runs: list[Run], sizes: Sizes) -> tuple[float, float]:
    """Print bench/generate.py's row and the machine's busy cores; return the median
    records/s and cores busy."""
    figures = [f for f, _ in runs]
    row = generate_bench.row(name, figures, sizes.prompts, sizes.concurrency, LATENCY)
    cores = statistics.median(busy / f.seconds for f, busy in runs)
    print(f"  {row}   {cores:18.2f}", flush=True)
    return statistics.median(f.records / f.seconds for f in figures), cores


def _generate_sentence(rates: dict[str, tuple[float, float]], top: float) -> str:
    parts = [
        f"{name} {rate:,.0f} records/s ({rate / top:.0%})" for name, (rate, _) in rates.items()
    ]
    sentence = f"against a ceiling of {top:,.0f} records/s: " + ", ".join(parts)
    if "sqlite, ray" in rates:
        (ray, ray_cores), (local, local_cores) = rates["sqlite, ray"], rates["sqlite"]
        sentence += (
            f"; ray/local on SQLite {ray / local:.2f}, with the machine's cores "
            f"{ray_cores:.2f} busy against {local_cores:.2f}"
        )
    return sentence + "."


# ------------------------------------------------------------------ server


ROW = re.compile(r"= +([\d.]+)/s +per annotation p50 +([\d.]+) ms p99 +([\d.]+) ms")


def server_section(sizes: Sizes, summary: Summary) -> None:
    print(
        f"\n== server: `synthloop serve --workers {SERVER_WORKERS}` on PostgreSQL, "
        f"{sizes.queued:,} queued records, overlap {server_bench.OVERLAP}, asyncio annotators"
    )
    figures = []
    with tempfile.TemporaryDirectory(prefix="synthloop-scale-") as tmp:
        log = Path(tmp) / "server.log"
        for annotators in ANNOTATORS:
            with server_bench.postgres_schema(PG) as db:
                row = server_bench.run(db, annotators, sizes.queued, "asyncio", SERVER_WORKERS, log)
            print(f"  {row}", flush=True)
            found = ROW.search(row)
            figure = f"{found[1]}/s, p50 {found[2]} ms, p99 {found[3]} ms" if found else "see above"
            summary.add("server", f"{SERVER_WORKERS} workers, {annotators} annotators", figure)
            figures.append(f"{found[1] if found else '?'} with {annotators} annotators")
    summary.sentences["server"] = (
        f"{SERVER_WORKERS} workers on PostgreSQL, annotations/s: " + ", ".join(figures) + ", "
        f"the load generator sharing the same {_cores()} cores."
    )


# ------------------------------------------------------------------ main


def print_machine() -> bool:
    """bench/generate.py's machine line and the versions; whether PostgreSQL is reachable."""
    import ray

    version = import_bench.postgres_version()  # prints why when unreachable
    print(generate_bench.machine())
    print(
        f"SQLite {sqlite3.sqlite_version}, PostgreSQL {version or 'unreachable'}, "
        f"Ray {ray.__version__}",
    )
    # Other work on these few cores moves every figure below: say how busy they were.
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before the run (1, 5, 15 min): {load}", flush=True)
    return version is not None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="~1/10 the sizes: a smoke run")
    parser.add_argument("--repeats", type=int, default=1, help="runs per row; the median prints")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sizes = QUICK if args.quick else FULL
    postgres = print_machine()
    summary = Summary()
    started = time.perf_counter()
    if "import" in args.only:
        import_section(sizes, args.repeats, postgres, summary)
    if "dedup" in args.only:
        dedup_section(sizes, args.repeats, summary)
    if "generate" in args.only:
        generate_section(sizes, args.repeats, postgres, summary)
    if "server" in args.only:
        if postgres:
            server_section(sizes, summary)
        else:
            print("\n== server: skipped, PostgreSQL unreachable")
    summary.print()
    print(f"\nwall time, whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
