"""`generate(store, recipe)`: a recipe's units of work through the backend and into the dataset.

The run, in order:
1. The recipe's task renders one unit per output record (`tasks.base`); a unit whose record the
   dataset already holds is skipped (a failed one is sent again when its reason was the budget,
   or always with `retry_failed`), so running a recipe twice adds nothing.
2. The answers the request cache holds for the remaining units are read in bulk; the rest are
   sent by the runner's `Sender` (adaptive concurrency, retries, Retry-After, timeouts) under the
   run's token and cost caps (`budget.Meter`).
3. A structured answer is validated by the task; an invalid one is asked again with the error,
   `retries.reasks` times, then the unit fails with reason `invalid_output` and the raw answer.
4. Finished units are written in batches, each batch in one transaction with the cache entries
   of its answers: after a crash, every stored record's answers are cached, and a new run sends
   none of those requests again.

Every unit ends as exactly one record: `pending` with its fields, or `failed` with its reason,
the error and, where there was one, the raw answer. Annotating tasks (`judge`, `prelabel`) write
suggestions onto the records they read instead, and note a failure in the record's metadata.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from synthloop.curate.run import CurateReport, curate
from synthloop.generate.budget import Meter, Reservation
from synthloop.generate.cache import RequestCache
from synthloop.generate.llm.base import Backend, BackendError, BadResponse, Completion, Request
from synthloop.generate.recipe import Recipe
from synthloop.generate.runner import Failed, RunReport, Sender, pool
from synthloop.generate.setup import create_dataset, prepare
from synthloop.generate.tasks.base import Output, Task, Unit
from synthloop.generate.writer import Finished, Writer
from synthloop.runners import RunnerSpec, get_runner
from synthloop.store.store import Store

__all__ = ["GenerateReport", "InvalidOutput", "agenerate", "generate"]

Progress = Callable[["GenerateReport"], None]


class InvalidOutput(BackendError):
    """A structured answer that still failed validation after every re-ask."""

    reason = "invalid_output"

    def __init__(self, error: str, raw: str, asks: int) -> None:
        super().__init__(f"the answer did not validate after {asks} asks: {error}")
        self.raw = raw


@dataclass
class GenerateReport:
    """What a run did. `ok + sum(failed.values())` equals `units - skipped`."""

    dataset: str
    task: str
    backend: str
    model: str
    units: int = 0
    skipped: int = 0  # already in the dataset
    ok: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    requests_sent: int = 0
    cache_hits: int = 0
    retries: int = 0
    reasks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    dry_run: bool = False
    estimated_tokens: int = 0  # dry runs: the worst case of what would be sent
    estimated_cost: float = 0.0
    samples: list[list[dict[str, str]]] = field(default_factory=list)  # dry runs: prompts
    curation: CurateReport | None = None  # the recipe's `curate` steps, when it has some

    @property
    def done(self) -> int:
        return self.ok + sum(self.failed.values())

    @property
    def todo(self) -> int:
        return self.units - self.skipped

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = dict(sorted(self.failed.items()))
        data["tokens"] = self.tokens
        return data


def generate(
    store: Store,
    recipe: Recipe,
    *,
    max_cost: float | None = None,
    max_tokens: int | None = None,
    dry_run: bool = False,
    retry_failed: bool = False,
    progress: Progress | None = None,
    runner: RunnerSpec = None,
) -> GenerateReport:
    """Run `recipe` into its dataset; see the module docstring. Caps given here override the
    recipe's `budget`. `runner` (`local`, `ray` or a Runner) says where units are answered;
    the records are the same whichever it is."""
    return asyncio.run(
        agenerate(
            store,
            recipe,
            max_cost=max_cost,
            max_tokens=max_tokens,
            dry_run=dry_run,
            retry_failed=retry_failed,
            progress=progress,
            runner=runner,
        )
    )


async def agenerate(
    store: Store,
    recipe: Recipe,
    *,
    max_cost: float | None = None,
    max_tokens: int | None = None,
    dry_run: bool = False,
    retry_failed: bool = False,
    progress: Progress | None = None,
    batch_size: int = 200,
    runner: RunnerSpec = None,
) -> GenerateReport:
    """`generate` for a caller already on an event loop."""
    started = time.perf_counter()
    chosen = get_runner(runner)
    plan = prepare(store, recipe, retry_failed=retry_failed)
    backend, task = plan.backend, plan.task
    report = GenerateReport(recipe.dataset, task.name, backend.backend_type, backend.model)
    report.units, report.skipped, report.dry_run = plan.total, plan.total - len(plan.todo), dry_run
    price = recipe.prices.get(backend.model)
    meter = Meter(
        (price.input, price.output) if price else None,
        max_cost=max_cost if max_cost is not None else recipe.budget.max_cost,
        max_tokens=max_tokens if max_tokens is not None else recipe.budget.max_tokens,
        model=backend.model,
    )
    cache = RequestCache(store.engine, backend)
    async with backend:
        if dry_run:
            _estimate(plan.todo, cache, meter, report)
        else:
            create_dataset(store, plan, recipe)  # only now: a refused run leaves nothing behind
            writer = Writer(store, plan, recipe, cache)
            if chosen.distributed:
                from synthloop.generate.spread import Spread  # it builds on this module's Run

                spread = Spread(chosen, recipe, task, cache, meter, report)
                await asyncio.to_thread(spread.all, plan.todo, writer, progress)
            else:
                run = Run(recipe, task, backend, cache, meter, report)
                await run.all(plan.todo, writer, progress, batch_size)
    if recipe.curate and not dry_run:
        steps, name = recipe.curate, recipe.dataset
        report.curation = await asyncio.to_thread(curate, store, name, steps, runner=chosen)
    report.seconds = time.perf_counter() - started
    return report


def _estimate(
    units: Sequence[Unit], cache: RequestCache, meter: Meter, report: GenerateReport
) -> None:
    """A dry run: what would be sent, and its worst case in tokens and cost; nothing is sent."""
    requests = [r for u in units for r in u.requests]
    cached = cache.get_many(cache.key(r) for r in requests)
    for request in requests:
        if cache.key(request) in cached:
            report.cache_hits += 1
            continue
        need = meter.estimate(request)
        report.estimated_tokens += need.tokens
        report.estimated_cost += need.cost
    report.samples = [[dict(m) for m in u.requests[0].messages] for u in units[:3]]


class Run:
    """The live part of a run: answers for units, through the cache, the caps and the sender.
    `generate.spread` runs one per batch on a distributed runner's workers."""

    def __init__(
        self,
        recipe: Recipe,
        task: Task,
        backend: Backend,
        cache: RequestCache,
        meter: Meter,
        report: GenerateReport,
    ) -> None:
        self.task, self.cache, self.meter, self.report = task, cache, meter, report
        self.reasks = recipe.retries.reasks
        self.concurrency = recipe.backend.max_concurrency
        self.runner = RunReport()
        retries = recipe.retries
        self.sender = Sender(
            backend,
            self.runner,
            concurrency=self.concurrency,
            max_retries=retries.max_retries,
            base_delay=retries.base_delay,
            max_delay=retries.max_delay,
            timeout=retries.timeout,
            bad_response_retries=retries.bad_response_retries,
            seed=recipe.seed,
        )
        self.prefetched: dict[str, Completion] = {}
        self.started = time.perf_counter()

    async def all(
        self, units: Sequence[Unit], writer: Writer, progress: Progress | None, batch_size: int
    ) -> None:
        keys = [self.cache.key(r) for u in units for r in u.requests]
        self.prefetched = await asyncio.to_thread(self.cache.get_many, keys)

        async def write(batch: list[Finished]) -> None:
            await writer.write(batch)
            self.sync()
            if progress is not None:
                progress(self.report)

        try:
            await pool(
                units, self.unit, workers=self.concurrency, on_result=write, batch_size=batch_size
            )
        finally:
            self.sync()

    def sync(self) -> None:
        report, meter = self.report, self.meter
        report.requests_sent, report.retries = self.runner.requests_sent, self.runner.retries
        report.prompt_tokens, report.completion_tokens = (
            meter.prompt_tokens,
            meter.completion_tokens,
        )
        report.cost = meter.cost
        report.seconds = time.perf_counter() - self.started

    async def unit(self, unit: Unit) -> Finished:
        outputs: list[Output] = []
        done = Finished(unit)
        try:
            for request in unit.requests:
                outputs.append(await self._answer(request, done))
            done.fields = self.task.build(unit, outputs)
        except (Failed, BackendError) as exc:
            error = exc.error if isinstance(exc, Failed) else exc
            done.reason, done.detail = error.reason, str(error)[:1000]
            done.raw = _raw(error)
        except (ValueError, KeyError, TypeError) as exc:  # the task could not use the answers
            done.reason, done.detail = "task_error", f"{type(exc).__name__}: {exc}"[:1000]
        done.outputs = outputs
        if done.reason is None:
            self.report.ok += 1
        else:
            self.report.failed[done.reason] += 1
        return done

    async def _answer(self, request: Request, done: Finished) -> Output:
        """A validated answer to `request`, re-asking with the error while re-asks are left."""
        for ask in range(self.reasks + 1):
            completion, key = await self._complete(request, done)
            try:
                output = Output(completion, self.task.parse(completion.text))
            except ValueError as exc:
                error = _short(exc)
                if ask == self.reasks:
                    raise InvalidOutput(error, completion.text, ask + 1) from None
                self.report.reasks += 1
                done.reasks += 1
                request = self.task.reask(request, completion.text, error)
                continue
            if key is not None:  # only answers that passed validation are worth keeping
                self.cache.put(key, completion)
            return output
        raise AssertionError("unreachable")

    async def _complete(self, request: Request, done: Finished) -> tuple[Completion, str | None]:
        """The answer to `request` and, when it was fetched now (not read from the cache), its
        cache key."""
        key = self.cache.key(request)
        hit = self.prefetched.pop(key, None)
        if hit is None and done.reasks:  # re-asks were not prefetched: look this one up
            hit = self.cache.get_many([key]).get(key)
        if hit is not None:
            self.report.cache_hits += 1
            done.add(hit, self.meter.cost_of(hit.prompt_tokens, hit.completion_tokens), True)
            return hit, None
        reservation: Reservation | None = self.meter.reserve(request)  # may raise BudgetExhausted
        try:
            completion, attempts = await self.sender.send(request)
        except Failed as failed:
            self.meter.settle(reservation, None)
            done.attempts += failed.attempts
            raise
        cost = self.meter.settle(reservation, completion)
        done.attempts += attempts
        done.add(completion, cost, False)
        return completion, key


def _raw(error: BackendError) -> str | None:
    if isinstance(error, InvalidOutput):
        return error.raw
    if isinstance(error, BadResponse):
        return error.raw.decode("utf-8", "replace")
    return None


def _short(exc: ValueError) -> str:
    """A validation error as the model should read it: pydantic's without its URLs."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            parts = [f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in errors()]
            return "; ".join(parts)[:1000]
        except (TypeError, KeyError):
            pass
    return str(exc)[:1000]
