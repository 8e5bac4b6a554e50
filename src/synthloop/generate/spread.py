"""A generation run spread over a distributed runner's workers (`--runner ray`).

The driver does what needs the store: it plans the units, reads the request cache for all of
them at once, and writes every finished batch (records and the cache entries of their answers, in
one transaction) as the batches come back: one writer. Each batch is answered on a worker by the
same `Run` the local path uses, with its own backend connection and a share of the recipe's
`max_concurrency` (so the whole run keeps the recipe's bound on requests in flight), and with the
cached answers of its units sent along. A record's id, fields and outcome do not depend on which
process answered it.

With a token or cost cap, the run's one `Meter` lives in a Ray actor and every request reserves
its worst case there before it is sent, so the caps hold across workers as they do in one process.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from synthloop.generate.budget import BudgetExhausted, Meter, Reservation
from synthloop.generate.cache import RequestCache
from synthloop.generate.llm.base import Completion, Request
from synthloop.generate.pipeline import GenerateReport, Progress, Run
from synthloop.generate.recipe import Recipe
from synthloop.generate.runner import pool
from synthloop.generate.setup import backend_for
from synthloop.generate.tasks.base import Task, Unit
from synthloop.generate.writer import Finished, Writer
from synthloop.runners import SHARDS_PER_WORKER, RayRunner, Runner

__all__ = ["Spread"]

_MAX_BATCH = 2_000  # units per batch: enough to keep a worker's share of concurrency busy


@dataclass
class _Job:
    recipe: Recipe  # with this worker's share of max_concurrency
    task: Task
    units: Sequence[Unit]
    cached: dict[str, Completion]
    meter: Meter


@dataclass
class _Done:
    finished: list[Finished]
    cached: list[dict[str, str]]
    report: GenerateReport  # the batch's counts


# The report's counters a run adds up over its batches.
_SUMMED = (
    "ok",
    "requests_sent",
    "cache_hits",
    "retries",
    "reasks",
    "prompt_tokens",
    "completion_tokens",
    "cost",
)


class Spread:
    """The driver's side of a distributed run; `all` blocks (call it off the event loop)."""

    def __init__(
        self,
        runner: Runner,
        recipe: Recipe,
        task: Task,
        cache: RequestCache,
        meter: Meter,
        report: GenerateReport,
    ) -> None:
        self.runner, self.recipe, self.task = runner, recipe, task
        self.cache, self.meter, self.report = cache, meter, report

    def all(self, units: Sequence[Unit], writer: Writer, progress: Progress | None) -> None:
        started = time.perf_counter()
        workers = self.runner.workers
        keys = {u.key: [self.cache.key(r) for r in u.requests] for u in units}
        cached = self.cache.get_many(k for ks in keys.values() for k in ks)
        meter = self._worker_meter()
        share = math.ceil(self.recipe.backend.max_concurrency / workers)
        recipe = _with_concurrency(self.recipe, share)
        size = max(1, min(_MAX_BATCH, math.ceil(len(units) / (workers * SHARDS_PER_WORKER))))
        jobs = []
        for start in range(0, len(units), size):
            batch = units[start : start + size]
            mine = {k: cached[k] for u in batch for k in keys[u.key] if k in cached}
            jobs.append(_Job(recipe, self.task, batch, mine, meter))
        for done in self.runner.as_completed(answer_batch, jobs, window=workers * 2):
            self.cache.stage(done.cached)
            writer.write_now(done.finished)
            self._count(done.report)
            self.report.seconds = time.perf_counter() - started
            if progress is not None:
                progress(self.report)

    def _worker_meter(self) -> Meter:
        """What each worker counts with: a plain meter, or one that asks the run's shared
        budget first when the run has caps."""
        meter = self.meter
        if meter.max_cost is None and meter.max_tokens is None:
            return Meter(meter.price, assumed_completion=meter.assumed_completion)
        assert isinstance(self.runner, RayRunner), "caps across workers need a Ray actor"
        budget = self.runner.remote_class(_Budget).remote(meter)
        return SharedMeter(meter.price, budget, meter.assumed_completion)

    def _count(self, part: GenerateReport) -> None:
        """Add a batch's counts (a worker's report) to the run's."""
        report = self.report
        report.failed.update(part.failed)
        for name in _SUMMED:
            setattr(report, name, getattr(report, name) + getattr(part, name))


def answer_batch(job: _Job) -> _Done:
    """On a worker: answer a batch of units as the local path would, and hand back the finished
    units and the answers to cache."""
    return asyncio.run(_answer(job))


async def _answer(job: _Job) -> _Done:
    backend = backend_for(job.recipe)
    cache = RequestCache(None, backend)  # staging only: the writer stores what it stages
    report = GenerateReport("", job.task.name, backend.backend_type, backend.model)
    finished: list[Finished] = []
    async with backend:
        run = Run(job.recipe, job.task, backend, cache, job.meter, report)
        run.prefetched = dict(job.cached)
        await pool(job.units, run.unit, workers=run.concurrency, on_result=finished.extend)
        run.sync()
    for done in finished:  # the raw responses stay here: the writer never reads them
        done.outputs = [replace(o, completion=_lean(o.completion)) for o in done.outputs]
    return _Done(finished, cache.take(), report)


def _with_concurrency(recipe: Recipe, concurrency: int) -> Recipe:
    backend = recipe.backend.model_copy(update={"max_concurrency": max(1, concurrency)})
    return recipe.model_copy(update={"backend": backend})


def _lean(completion: Completion) -> Completion:
    return replace(completion, raw=None) if completion.raw is not None else completion


class _Budget:
    """The run's one Meter, as a Ray actor: every worker reserves here before it sends."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    def reserve(self, request: Request) -> Reservation | str:
        try:
            return self.meter.reserve(request)
        except BudgetExhausted as exc:  # the message crosses; the worker raises it again
            return str(exc)

    def settle(self, reservation: Reservation, completion: Completion | None) -> None:
        self.meter.settle(reservation, completion)


class SharedMeter(Meter):
    """A worker's meter under a capped run: counts its own usage, and asks the shared budget
    (`_Budget`) before each request."""

    def __init__(self, price: tuple[float, float] | None, budget: Any, assumed: int) -> None:
        super().__init__(price, assumed_completion=assumed)
        self.budget = budget

    def reserve(self, request: Request) -> Reservation:
        import ray

        # Blocking the worker's event loop for the round trip is the price of an exact cap.
        answer = ray.get(self.budget.reserve.remote(request))
        if isinstance(answer, str):
            raise BudgetExhausted(answer)
        return answer  # type: ignore[no-any-return]

    def settle(self, reservation: Reservation | None, completion: Completion | None) -> float:
        if reservation is not None:  # one caller's actor calls run in order: after its reserve
            self.budget.settle.remote(reservation, completion and _lean(completion))
        return super().settle(None, completion)
