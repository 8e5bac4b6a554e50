"""Dawid-Skene on a million answers, against crowd-kit's DawidSkene on the same data.

    .venv/bin/python bench/quality.py                  # 100k items x 10 answers, 1k workers
    .venv/bin/python bench/quality.py --items 20000    # a smaller smoke run
    .venv/bin/python bench/quality.py --no-crowdkit    # synthloop only

The answers come from known per-worker confusion matrices (seeded), so accuracy is measured
against the truth. crowd-kit runs in its own environment, bench/.venv-crowdkit (created on first
use, git-ignored), in a subprocess; if it cannot be installed the script says why and skips it.
It prints the median of the repeats and never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from synthloop.quality.aggregate import dawid_skene
from synthloop.quality.answers import Answers

CROWDKIT_VENV = Path(__file__).parent / ".venv-crowdkit"
TARGET_SECONDS = 3.0
# pip must never pull a CUDA build of torch into the bench environment.
FORBIDDEN = ("nvidia-", "triton", "cuda")


@dataclass(frozen=True)
class Crowd:
    answers: Answers
    truth: npt.NDArray[np.int64]


def simulate(items: int, workers: int, classes: int, per_item: int, seed: int) -> Crowd:
    """Answers from per-worker confusion matrices: accuracies spread from near-spam to expert."""
    rng = np.random.default_rng(seed)
    priors = rng.dirichlet(np.full(classes, 2.0))
    truth = rng.choice(classes, size=items, p=priors)
    accuracy = rng.beta(2, 2, size=workers)  # mean 0.5: experts, guessers and worse
    errors = rng.dirichlet(np.ones(classes - 1), size=(workers, classes))
    confusion = np.empty((workers, classes, classes))
    for k in range(classes):
        off = [c for c in range(classes) if c != k]
        confusion[:, k, k] = accuracy
        confusion[:, k, off] = (1 - accuracy)[:, None] * errors[:, k, :]
    # Distinct workers per item: consecutive blocks of shuffled worker lists.
    rounds = -(-items * per_item // workers)
    order = np.concatenate([rng.permutation(workers) for _ in range(rounds)])
    worker = order[: items * per_item].astype(np.int64)
    item = np.repeat(np.arange(items, dtype=np.int64), per_item)
    cumulative = np.cumsum(confusion, axis=2)[worker, truth[item]]
    value = (rng.random(len(item))[:, None] > cumulative[:, :-1]).sum(axis=1).astype(np.int64)
    answers = Answers(
        item=item,
        worker=worker,
        value=value,
        item_ids=list(range(items)),
        worker_ids=list(range(workers)),
        values=list(range(classes)),
    )
    return Crowd(answers=answers, truth=truth.astype(np.int64))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"CPU: {cpu}, {os.cpu_count()} cores | Python {platform.python_version()} | "
        f"numpy {np.__version__}"
    )


def bench_synthloop(crowd: Crowd, repeats: int) -> float:
    times, accuracy, iterations = [], 0.0, 0
    for _ in range(repeats):
        start = time.perf_counter()
        result = dawid_skene(crowd.answers)
        times.append(time.perf_counter() - start)
        chosen = np.array(result.labels)
        accuracy, iterations = float((chosen == crowd.truth).mean()), result.iterations
    seconds = statistics.median(times)
    verdict = "within" if seconds <= TARGET_SECONDS else "OVER"
    print(
        f"synthloop dawid_skene: {seconds:.2f} s (median of {repeats}; {verdict} the "
        f"{TARGET_SECONDS:.0f} s target), {iterations} iterations, accuracy {accuracy:.4f}"
    )
    return seconds


# ------------------------------------------------------------------ crowd-kit


CROWDKIT_RUN = textwrap.dedent(
    """
    import json, statistics, sys, time
    import pandas as pd
    from crowdkit.aggregation import DawidSkene
    data = pd.read_csv(sys.argv[1])
    repeats = int(sys.argv[2])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        labels = DawidSkene(n_iter=100, tol=1e-6).fit_predict(data)
        times.append(time.perf_counter() - start)
    truth = pd.read_csv(sys.argv[3]).set_index("task")["truth"]
    accuracy = float((labels.reindex(truth.index) == truth).mean())
    import crowdkit
    print(json.dumps({"seconds": statistics.median(times), "accuracy": accuracy,
                      "version": getattr(crowdkit, "__version__", "?")}))
    """
)


def crowdkit_python() -> Path:
    """The bench venv's python with crowd-kit installed, or RuntimeError saying why not."""
    python = CROWDKIT_VENV / "bin" / "python"
    if python.exists() and _run([str(python), "-c", "import crowdkit"], check=False) == 0:
        return python
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(CROWDKIT_VENV)])
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q"]
    plan = _install_plan(pip, ["crowd-kit"])
    if any(name.startswith("torch") for name in plan):
        # crowd-kit wants torch: install the pinned CPU build first, so pip keeps it.
        _refuse_cuda(_install_plan(pip, ["torch==2.13.0"]), "torch==2.13.0")
        _run([*pip, "install", "torch==2.13.0"])
        plan = _install_plan(pip, ["crowd-kit"])
    _refuse_cuda(plan, "crowd-kit")
    _run([*pip, "install", "crowd-kit"])
    return python


def _install_plan(pip: list[str], packages: list[str]) -> list[str]:
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        _run([*pip, "install", "--dry-run", "--report", report.name, *packages])
        plan = json.loads(Path(report.name).read_text())
    return [entry["metadata"]["name"].lower() for entry in plan.get("install", [])]


def _refuse_cuda(plan: list[str], what: str) -> None:
    cuda = [name for name in plan if name.startswith(FORBIDDEN)]
    if cuda:
        raise RuntimeError(f"installing {what} would pull CUDA packages {cuda}; not installing")


def _run(command: list[str], check: bool = True) -> int:
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"`{' '.join(command[:6])} ...` failed: {' | '.join(tail)}")
    return done.returncode


def bench_crowdkit(crowd: Crowd, repeats: int, ours: float) -> None:
    try:
        python = crowdkit_python()
    except (RuntimeError, OSError) as exc:
        print(f"crowd-kit: skipped ({exc})")
        return
    with tempfile.TemporaryDirectory(prefix="synthloop-bench-") as folder:
        answers, truth = Path(folder) / "answers.csv", Path(folder) / "truth.csv"
        a = crowd.answers
        _write_csv(answers, "task,worker,label", a.item, a.worker, a.value)
        _write_csv(truth, "task,truth", np.arange(a.n_items), crowd.truth)
        done = subprocess.run(
            [str(python), "-c", CROWDKIT_RUN, str(answers), str(repeats), str(truth)],
            capture_output=True,
            text=True,
        )
    if done.returncode:
        print(f"crowd-kit: failed ({done.stderr.strip().splitlines()[-1:]})")
        return
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"crowd-kit {result['version']} DawidSkene: {result['seconds']:.2f} s "
        f"(median of {repeats}), accuracy {result['accuracy']:.4f}"
    )
    print(f"time ratio crowd-kit / synthloop: {result['seconds'] / ours:.1f}x")


def _write_csv(path: Path, header: str, *columns: npt.NDArray[np.int64]) -> None:
    np.savetxt(path, np.column_stack(columns), fmt="%d", delimiter=",", header=header, comments="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1_000)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--per-item", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-crowdkit", action="store_true")
    args = parser.parse_args()
    print(machine())
    crowd = simulate(args.items, args.workers, args.classes, args.per_item, args.seed)
    majority = (crowd.answers.counts().argmax(axis=1) == crowd.truth).mean()
    print(
        f"data: {len(crowd.answers):,} answers, {args.items:,} items, {args.workers:,} workers, "
        f"{args.classes} classes (seed {args.seed}); majority vote accuracy {majority:.4f}"
    )
    ours = bench_synthloop(crowd, args.repeats)
    if not args.no_crowdkit:
        bench_crowdkit(crowd, args.repeats, ours)


if __name__ == "__main__":
    main()
