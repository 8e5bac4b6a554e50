"""Import and export throughput on SQLite and PostgreSQL, in records per second.

    .venv/bin/python bench/import.py                 # 1M records, 3 repeats, both backends
    .venv/bin/python bench/import.py --quick         # 100k records, 1 repeat: a smoke run
    .venv/bin/python bench/import.py --backends sqlite --records 200000

Each repeat runs in a fresh store (a new SQLite file, a new PostgreSQL schema): import a flat JSONL
file into a new dataset, import it again (every row already present: the dedupe path), export JSONL,
export Parquet. It prints the median of the repeats; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import orjson
from sqlalchemy import create_engine, text

from synthloop.demo import SETTINGS
from synthloop.settings import Settings
from synthloop.store.store import Store

DATA = Path(__file__).parent / ".data"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1/test"
TARGET = 50_000  # records/s importing into SQLite
STEPS = ("import", "re-import", "export jsonl", "export parquet")
WORDS = ("order", "parcel", "refund", "account", "login", "delivery", "invoice", "charge", "card")


# ------------------------------------------------------------------ input


def input_file(records: int) -> Path:
    """The flat JSONL input of `records` rows, generated once and cached in bench/.data/."""
    path = DATA / f"flat-{records}.jsonl"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        partial = path.with_suffix(".partial")
        rng = random.Random(0)
        with partial.open("wb") as f:
            for start in range(0, records, 10_000):
                stop = min(start + 10_000, records)
                f.write(b"".join(_row(i, rng) for i in range(start, stop)))
        partial.replace(path)
    return path


def _row(i: int, rng: random.Random) -> bytes:
    return orjson.dumps({"id": f"r{i}", "text": _sentence(rng), "reply": _sentence(rng)}) + b"\n"


def _sentence(rng: random.Random) -> str:
    # ~60 characters of varied words, so rows don't compress or hash alike.
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 999)) for _ in range(7))[:60]


# ------------------------------------------------------------------ backends


@contextmanager
def sqlite_store() -> Iterator[Store]:
    with (
        tempfile.TemporaryDirectory(prefix="synthloop-bench-") as folder,
        Store(Path(folder) / "bench.db") as store,
    ):
        yield store


@contextmanager
def postgres_store() -> Iterator[Store]:
    """A store in a fresh schema, dropped (CASCADE) afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        with Store(f"{PG_SERVER}?options=-csearch_path%3D{schema}") as store:
            yield store
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


BACKENDS: dict[str, Callable[[], AbstractContextManager[Store]]] = {
    "sqlite": sqlite_store,
    "postgres": postgres_store,
}


def postgres_version() -> str | None:
    """The server's version, or None (saying so) when it cannot be reached."""
    engine = create_engine(PG_SERVER, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one())
    except Exception as exc:  # any failure to connect means: skip the backend
        print(f"PostgreSQL at {PG_SERVER} is unreachable ({type(exc).__name__}); skipping it")
        return None
    finally:
        engine.dispose()


# ------------------------------------------------------------------ measuring


def run_once(store: Store, path: Path, out: Path) -> dict[str, tuple[float, int]]:
    """Seconds and record count for each step, in one fresh store."""
    dataset = store.create_dataset("bench", Settings.loads(SETTINGS, "demo settings"))
    timings: dict[str, tuple[float, int]] = {}

    def timed(step: str, action: Callable[[], int]) -> None:
        start = time.perf_counter()
        count = action()
        timings[step] = (time.perf_counter() - start, count)

    timed("import", lambda: dataset.import_file(path).added)
    timed("re-import", lambda: dataset.import_file(path).existing)
    timed("export jsonl", lambda: dataset.export(out / "out.jsonl"))
    timed("export parquet", lambda: dataset.export(out / "out.parquet"))
    return timings


def bench_backend(name: str, path: Path, repeats: int) -> dict[str, float]:
    """Print the median figures for one backend; return records/s per step."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="synthloop-bench-out-") as out:
        for _ in range(repeats):
            with BACKENDS[name]() as store:
                runs.append(run_once(store, path, Path(out)))
    print(f"\n{name} ({repeats} repeat{'s' if repeats > 1 else ''}, median)")
    rates = {}
    for step in STEPS:
        seconds = statistics.median(run[step][0] for run in runs)
        count = runs[0][step][1]
        rates[step] = count / seconds
        rate = f"{rates[step]:>10,.0f} records/s"
        print(f"  {step:<15} {seconds:8.2f} s  {rate}  ({count:,} records)")
    return rates


# ------------------------------------------------------------------ report


def print_machine(with_postgres: bool) -> bool:
    """Print what the figures were measured on; return whether PostgreSQL is reachable."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    print(f"CPU: {cpu}, {os.cpu_count()} cores")
    print(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    version = postgres_version() if with_postgres else None
    if version:
        print(f"PostgreSQL {version}")
    return version is not None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Import and export throughput, records/s.")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="100k records, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.records, args.repeats = 100_000, 1
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - BACKENDS.keys()
    if unknown:
        parser.error(f"unknown backends {sorted(unknown)}; choose from {sorted(BACKENDS)}")
    return args


def main() -> None:
    args = parse_args()
    if not print_machine("postgres" in args.backends):
        args.backends = [b for b in args.backends if b != "postgres"]
    path = input_file(args.records)
    print(f"input: {path} ({args.records:,} flat rows, {path.stat().st_size / 1e6:,.0f} MB)")
    for name in args.backends:
        rates = bench_backend(name, path, args.repeats)
        if name == "sqlite":
            ratio = rates["import"] / TARGET
            print(f"  import vs the {TARGET:,} records/s target: {ratio:.2f}x")


if __name__ == "__main__":
    main()
