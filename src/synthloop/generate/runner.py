"""The runner: many requests through one backend, concurrently, with retries, and exactly one
result per input.

`run(backend, items, ...)` pulls `(key, request)` items from an iterable with a fixed pool of
worker tasks. An adaptive limit bounds the requests in flight: it halves (not below 1) when the
server says it is overloaded (429, 503) and grows by one after `recover_after` successes in a row,
up to `concurrency` (additive increase, multiplicative decrease). A failed attempt is retried
with exponential backoff and full jitter from a seeded random generator, waiting at least a
429's Retry-After, up to `max_retries` retries.

Retryable: `RateLimited`, `ServerError`, `RequestTimeout`, `ConnectionFailed`. Not retried:
`RequestRejected` (the request itself is wrong; sending it again changes nothing) and
`BadResponse` (a truncated or unparsable body; `bad_response_retries`, default 0, allows some).
Re-asking on an invalid structured output is the task layer's business, not this one's.

Every input ends as one `Result`, ok with its `Completion` or failed with the last error's
`reason`: nothing is dropped. Results are handed to `on_result` in batches as they complete, so a
caller can write them to the store as it goes; `results_to_rows` makes `Dataset.add` rows of
them.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from synthloop.generate.llm.base import (
    Backend,
    BackendError,
    BadResponse,
    Completion,
    ConnectionFailed,
    RateLimited,
    Request,
    RequestTimeout,
    ServerError,
)

__all__ = ["Failed", "Result", "RunReport", "Sender", "pool", "results_to_rows", "retryable", "run"]

OVERLOAD_STATUSES = frozenset({503, 529})

OnResult = Callable[[list["Result"]], Awaitable[object] | object]  # a return value is ignored


@dataclass(slots=True)
class Result:
    """The outcome of one input: `completion` when ok, else `reason` and `detail` (and the raw
    body of an unusable response). `attempts` counts the requests sent for it."""

    key: str
    request: Request
    completion: Completion | None = None
    reason: str | None = None
    detail: str = ""
    raw: bytes | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.completion is not None


@dataclass(slots=True)
class RunReport:
    """Counts for a run. `ok + sum(failed.values())` equals the number of inputs."""

    inputs: int = 0
    ok: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    requests_sent: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    waited: float = 0.0  # seconds of backoff, summed over retries
    limit_changes: list[int] = field(default_factory=list)  # the limit after each change
    max_in_flight: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def retryable(error: BackendError, attempt: int, bad_response_retries: int = 0) -> bool:
    """Whether a request that failed with `error` on attempt `attempt` (1-based) is worth
    sending again, the retry budget aside."""
    if isinstance(error, RateLimited | ServerError | RequestTimeout | ConnectionFailed):
        return True
    if isinstance(error, BadResponse):
        return attempt <= bad_response_retries
    return False  # RequestRejected, and any error type this runner does not know


class _Limiter:
    """A semaphore whose size moves: acquire waits while `in_flight >= limit`."""

    def __init__(self, limit: int, maximum: int, recover_after: int, report: RunReport) -> None:
        self.limit, self.maximum, self.recover_after = limit, maximum, recover_after
        self.in_flight = 0
        self.streak = 0
        self.report = report
        self._cond = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            self.report.max_in_flight = max(self.report.max_in_flight, self.in_flight)

    async def release(self, success: bool, overloaded: bool) -> None:
        async with self._cond:
            self.in_flight -= 1
            if overloaded:
                self.streak = 0
                new = max(self.limit // 2, 1)
                if new != self.limit:
                    self.limit = new
                    self.report.limit_changes.append(new)
            elif success:
                self.streak += 1
                if self.streak >= self.recover_after and self.limit < self.maximum:
                    self.streak = 0
                    self.limit += 1
                    self.report.limit_changes.append(self.limit)
            self._cond.notify_all()


def _overloaded(error: BackendError | None) -> bool:
    return isinstance(error, RateLimited) or (
        isinstance(error, ServerError) and error.status in OVERLOAD_STATUSES
    )


class Sender:
    """Sends requests through `backend` under the adaptive limit, retrying as the module
    docstring says. `send` returns the completion or raises `Failed` with the last error; the
    counts go to `report`. One Sender serves every worker of a run (one limit per backend)."""

    def __init__(
        self,
        backend: Backend,
        report: RunReport,
        *,
        concurrency: int = 50,
        max_retries: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float | None = None,
        recover_after: int = 10,
        bad_response_retries: int = 0,
        seed: int = 0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.backend, self.report = backend, report
        self.max_retries, self.base_delay, self.max_delay = max_retries, base_delay, max_delay
        self.timeout, self.bad_response_retries = timeout, bad_response_retries
        self.limiter = _Limiter(concurrency, concurrency, max(recover_after, 1), report)
        self.rng = random.Random(seed)

    async def _attempt(self, request: Request) -> Completion:
        if self.timeout is None:
            return await self.backend.complete(request)
        try:
            async with asyncio.timeout(self.timeout):
                return await self.backend.complete(request)
        except TimeoutError:
            raise RequestTimeout(self.timeout) from None

    async def send(self, request: Request) -> tuple[Completion, int]:
        """The completion and the number of requests sent for it; raises `Failed`."""
        attempts = 0
        report = self.report
        while True:
            await self.limiter.acquire()
            attempts += 1
            report.requests_sent += 1
            error: BackendError | None = None
            completion: Completion | None = None
            try:
                completion = await self._attempt(request)
            except BackendError as exc:
                error = exc
            finally:
                await self.limiter.release(completion is not None, _overloaded(error))
            if completion is not None:
                return completion, attempts
            assert error is not None
            retries_left = attempts <= self.max_retries
            if not (retries_left and retryable(error, attempts, self.bad_response_retries)):
                raise Failed(error, attempts)
            delay = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempts - 1)))
            if isinstance(error, RateLimited) and error.retry_after is not None:
                delay = max(delay, error.retry_after)
            report.retries += 1
            report.waited += delay
            await asyncio.sleep(delay)


class Failed(Exception):
    """A request that ended without a completion after `attempts` requests: `error` says why."""

    def __init__(self, error: BackendError, attempts: int) -> None:
        super().__init__(str(error))
        self.error, self.attempts = error, attempts


_In = TypeVar("_In")
_Out = TypeVar("_Out")


async def pool(
    items: Iterable[_In],
    work: Callable[[_In], Awaitable[_Out]],
    *,
    workers: int,
    on_result: Callable[[list[_Out]], Awaitable[object] | object] | None = None,
    batch_size: int = 100,
    flush_interval: float = 1.0,
) -> None:
    """Run `work` over `items` with `workers` tasks; hand results to `on_result` in batches of
    at most `batch_size` (sooner when `flush_interval` seconds have passed), the rest at the
    end. An exception from `work` or `on_result` stops every worker and is raised."""
    source: Iterator[_In] = iter(items)
    buffer: list[_Out] = []
    flush_lock = asyncio.Lock()
    loop = asyncio.get_running_loop()
    last_flush = loop.time()

    async def flush(force: bool) -> None:
        nonlocal last_flush
        async with flush_lock:
            last_flush = loop.time()
            while buffer and (force or len(buffer) >= batch_size):
                batch = buffer[:batch_size]
                del buffer[:batch_size]
                if on_result is not None:
                    outcome = on_result(batch)
                    if inspect.isawaitable(outcome):
                        await outcome

    async def worker() -> None:
        for item in source:  # one shared iterator: each item goes to one worker
            buffer.append(await work(item))
            if len(buffer) >= batch_size:
                await flush(False)
            elif loop.time() - last_flush >= flush_interval:
                await flush(True)

    try:
        async with asyncio.TaskGroup() as group:  # one failing worker cancels the others
            for _ in range(workers):
                group.create_task(worker())
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None  # the caller's error, not a group of one
    await flush(True)


async def run(
    backend: Backend,
    items: Iterable[tuple[str, Request]],
    *,
    concurrency: int = 50,
    max_retries: int = 5,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
    timeout: float | None = None,
    on_result: OnResult | None = None,
    batch_size: int = 100,
    flush_interval: float = 1.0,
    recover_after: int = 10,
    bad_response_retries: int = 0,
    seed: int = 0,
) -> RunReport:
    """Send every request through `backend`; return the counts. See the module docstring.

    `timeout` bounds each attempt (the backend may have its own); `on_result` (sync or async)
    receives lists of at most `batch_size` results as they complete (sooner when
    `flush_interval` seconds have passed since the last batch), and the rest at the end. An
    exception from `on_result` or an unexpected one from the backend stops the run and is raised.
    """
    report = RunReport()
    sender = Sender(
        backend,
        report,
        concurrency=concurrency,
        max_retries=max_retries,
        base_delay=base_delay,
        max_delay=max_delay,
        timeout=timeout,
        recover_after=recover_after,
        bad_response_retries=bad_response_retries,
        seed=seed,
    )

    async def one(item: tuple[str, Request]) -> Result:
        key, request = item
        report.inputs += 1
        result = Result(key=key, request=request)
        try:
            result.completion, result.attempts = await sender.send(request)
        except Failed as failed:
            error = failed.error
            result.attempts = failed.attempts
            result.reason = error.reason
            result.detail = str(error)[:500]
            if isinstance(error, BadResponse):
                result.raw = error.raw
            report.failed[result.reason or "backend_error"] += 1
            return result
        report.ok += 1
        report.prompt_tokens += result.completion.prompt_tokens
        report.completion_tokens += result.completion.completion_tokens
        return result

    await pool(
        items,
        one,
        workers=concurrency,
        on_result=on_result,
        batch_size=batch_size,
        flush_interval=flush_interval,
    )
    return report


def results_to_rows(
    results: Iterable[Result],
    *,
    backend: Backend,
    output_field: str = "response",
    fields: Mapping[str, Mapping[str, Any]] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """`Dataset.add` rows: an ok result becomes a `pending` record with the completion's text in
    `output_field`; a failed one a `failed` record with its `reason`, the output field left out
    and the error (and raw body, if any) in provenance. `fields` gives each key's other fields
    (the prompt, say); `provenance` is merged into every row's (the task, say)."""
    rows: list[dict[str, Any]] = []
    for result in results:
        base: dict[str, Any] = dict(fields.get(result.key, {})) if fields else {}
        prov: dict[str, Any] = {
            "source": "synthetic",
            "generator": "llm",
            "backend": backend.backend_type,
            "model": backend.model,
            "params": result.request.params.to_body(),
            "request": result.request.digest(),
            "attempts": result.attempts,
            **(provenance or {}),
        }
        row: dict[str, Any] = {"id": result.key, "fields": base, "provenance": prov}
        completion = result.completion
        if completion is not None:
            base[output_field] = completion.text
            prov.update(
                model=completion.model,
                finish_reason=completion.finish_reason,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                tokens_estimated=completion.tokens_estimated,
            )
            row["status"] = "pending"
        else:
            prov["error"] = result.detail
            if result.raw is not None:
                prov["raw"] = result.raw.decode("utf-8", "replace")
            row["status"] = "failed"
            row["reason"] = result.reason or "backend_error"
        rows.append(row)
    return rows
