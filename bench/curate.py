"""Near-duplicate dedup end to end: documents/s, and recall and precision on planted pairs.

    .venv/bin/python bench/curate.py                  # 100k docs, 3 repeats
    .venv/bin/python bench/curate.py --quick          # 20k docs, 1 repeat: a smoke run
    .venv/bin/python bench/curate.py --shingle 5      # another shingle size

The documents (seeded) are 50-200 words drawn from a Zipf-like vocabulary of 5,000 words; about
one in eleven is a planted copy of an earlier one with a few words substituted, inserted or
deleted (`--edits`, a fraction of its words). They are written to a fresh SQLite store (not
timed). Timed, end to end through the curation runner (`curate.run.curate`): read the pending
records from the store, shingle, sign, band, verify, cluster, and write the decisions (status
rejected, reason and details) back in one transaction.

A planted pair is found when the copy and its original end in one cluster; precision is the
share of rejections whose kept record is from the same planted family. Recall is given over all
planted pairs and over those whose true Jaccard similarity (of the step's shingles) reaches the
threshold. It prints the median of the repeats; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthloop.curate.minhash import jaccard, shingle
from synthloop.curate.run import curate
from synthloop.curate.steps.dedup import Dedup
from synthloop.settings import Settings
from synthloop.store.store import Store

TARGET = 20_000  # docs/s end to end
SETTINGS = """\
fields:
  - {name: text, type: text}
questions:
  - {name: keep, type: label, labels: [keep, drop]}
"""
VOCABULARY = 5_000


# ------------------------------------------------------------------ corpus


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    family: list[int]  # the original a doc was copied from; its own index for an original
    pairs: list[tuple[int, int]]  # (original, copy), as planted


def corpus(docs: int, edits: tuple[float, float], seed: int = 0) -> Corpus:
    """Originals of 50-200 Zipf-distributed words, then copies of random originals (one doc in
    eleven) with a fraction of words (uniform in `edits`) substituted, inserted or deleted."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    words = _vocabulary(pick)
    weights = 1.0 / np.arange(1, VOCABULARY + 1)
    weights /= weights.sum()
    originals = round(docs / 1.1)
    lengths = rng.integers(50, 201, size=originals)
    draws = rng.choice(VOCABULARY, size=int(lengths.sum()) + docs * 20, p=weights)
    spare = iter(draws[int(lengths.sum()) :].tolist())
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    texts = [
        " ".join(words[w] for w in draws[bounds[i] : bounds[i + 1]].tolist())
        for i in range(originals)
    ]
    family = list(range(originals))
    pairs = []
    while len(texts) < docs:
        source = pick.randrange(originals)
        copy = texts[source].split()
        for _ in range(max(1, round(len(copy) * pick.uniform(*edits)))):
            _edit(copy, pick, words[next(spare)])
        pairs.append((source, len(texts)))
        family.append(source)
        texts.append(" ".join(copy))
    return Corpus(texts, family, pairs)


def _vocabulary(pick: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(pick.choice(letters) for _ in range(pick.randint(2, 10))))
    return pick.sample(sorted(words), VOCABULARY)


def _edit(words: list[str], pick: random.Random, new: str) -> None:
    at = pick.randrange(len(words))
    kind = pick.randrange(3)
    if kind == 0:
        words[at] = new
    elif kind == 1:
        words.insert(at, new)
    elif len(words) > 1:
        del words[at]


def true_similarity(data: Corpus, k: int) -> list[float]:
    """The exact Jaccard similarity of each planted pair's k-word shingle sets."""
    shingles = shingle(data.texts, k)
    return [jaccard(shingles.of(a), shingles.of(b)) for a, b in data.pairs]


# ------------------------------------------------------------------ measuring


def make_store(folder: Path, data: Corpus) -> Path:
    path = folder / "template.db"
    with Store(path) as store:
        dataset = store.create_dataset("docs", Settings.loads(SETTINGS, "bench settings"))
        dataset.add({"id": f"d{i}", "text": text} for i, text in enumerate(data.texts))
    return path


def run_once(template: Path, options: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """Seconds per stage on a fresh copy of the store, and each rejected key's kept key. The
    runner (`curate.run.curate`) reads the pending records, runs the step and writes the
    decisions in one transaction."""
    path = template.with_name("run.db")
    shutil.copy(template, path)
    with Store(path) as store:
        start, cpu = time.perf_counter(), time.process_time()
        report = curate(store, "docs", [Dedup(options)])
        timings = {"total": time.perf_counter() - start, "cpu": time.process_time() - cpu}
        timings["dedup"] = report.steps[0].seconds
        timings["read + write"] = timings["total"] - timings["dedup"]
        kept = {
            r.external_id or "": str(r.metadata["curation"]["details"]["kept"])
            for r in store.dataset("docs").records(status="rejected")
        }
    path.unlink()
    return timings, kept


def score(data: Corpus, kept: dict[str, str], similarity: list[float], threshold: float) -> None:
    """Print recall (all planted pairs, and those at or above the threshold) and precision."""
    index = {f"d{i}": i for i in range(len(data.texts))}

    def cluster(i: int) -> int:
        key = f"d{i}"
        return index[kept[key]] if key in kept else i

    found = [cluster(a) == cluster(b) for a, b in data.pairs]
    above = [f for f, s in zip(found, similarity, strict=True) if s >= threshold]
    right = sum(data.family[index[r]] == data.family[index[k]] for r, k in kept.items())
    print(f"  recall, all {len(found):,} planted pairs:     {sum(found) / len(found):.4f}")
    print(
        f"  recall, {len(above):,} pairs with J >= {threshold}: "
        f"{sum(above) / max(len(above), 1):.4f}"
    )
    print(f"  precision, {len(kept):,} rejections:       {right / max(len(kept), 1):.4f}")


# ------------------------------------------------------------------ report


def print_machine() -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average before the run {load}")
    print(f"Python {platform.python_version()}, numpy {np.__version__}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Near-duplicate dedup end to end, docs/s.")
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20k docs, 1 repeat")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--shingle", type=int, default=None, help="default: the step's")
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument(
        "--edits", default="0.01,0.05", help="min,max fraction of a copy's words edited"
    )
    args = parser.parse_args()
    if args.quick:
        args.docs, args.repeats = 20_000, 1
    low, high = (float(x) for x in args.edits.split(","))
    args.edits = (low, high)
    return args


def dedup_bench(args: argparse.Namespace) -> None:
    options: dict[str, Any] = {"mode": "near", "threshold": args.threshold}
    options["num_perm"] = args.num_perm
    if args.shingle:
        options["shingle"] = args.shingle
    step = Dedup(options)
    k = step.config.shingle  # type: ignore[attr-defined]
    data = corpus(args.docs, args.edits)
    similarity = true_similarity(data, k)
    quantiles = np.quantile(similarity, [0.1, 0.25, 0.5, 0.75, 0.9]).round(3).tolist()
    low, high = args.edits
    print(
        f"\n{args.docs:,} docs, {len(data.pairs):,} planted copies ({low:.0%}-{high:.0%} of words"
        f" edited); {k}-word shingles, true J quantiles 10/25/50/75/90%: {quantiles}"
    )
    print(f"options: {step.config!r}, bands/rows {step.config.banding()}")  # type: ignore[attr-defined]
    runs = []
    with tempfile.TemporaryDirectory(prefix="synthloop-bench-") as folder:
        template = make_store(Path(folder), data)
        for _ in range(args.repeats):
            runs.append(run_once(template, options))
    print(f"end to end ({args.repeats} repeat{'s' if args.repeats > 1 else ''}, median)")
    for stage in ("read + write", "dedup", "total"):
        seconds = statistics.median(run[0][stage] for run in runs)
        print(f"  {stage:<12} {seconds:7.2f} s  {args.docs / seconds:>10,.0f} docs/s")
    cpu = statistics.median(run[0]["cpu"] for run in runs)
    print(f"  CPU          {cpu:7.2f} s  {args.docs / cpu:>10,.0f} docs/CPU-s (one process)")
    rate = args.docs / statistics.median(run[0]["total"] for run in runs)
    print(f"  end to end vs the {TARGET:,} docs/s target: {rate / TARGET:.2f}x")
    score(data, runs[0][1], similarity, args.threshold)


def main() -> None:
    args = parse_args()
    print_machine()
    dedup_bench(args)


if __name__ == "__main__":
    main()
