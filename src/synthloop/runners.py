"""Where batches of work run: in this process (`local`, the default) or as Ray tasks (`ray`).

Generation and curation hand a runner independent batches (units of generation work, shards of
documents) and a module-level function to apply to each; the runner returns the results, and the
caller alone writes to the store: one writer, whatever ran the batches. So a run's output does
not depend on its runner: the same records, the same rejections, the same reasons
(tests/test_ray_runner.py checks it record by record).

`RayRunner` starts a local Ray cluster the first time it is used (`ray.init()` with this
machine's cores), or joins an existing one with `address` (`ray://host:10001`, or `auto` for a
cluster started with `ray start` on this machine). Workers on other machines need synthloop, and
what the run uses (the backend's extra, a step's model folder), installed there. Ray is an
optional extra: `pip install 'synthloop[ray]'`.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from synthloop.errors import SynthloopError

__all__ = ["LocalRunner", "RayRunner", "Runner", "RunnerSpec", "get_runner", "shards"]

SHARDS_PER_WORKER = 4

_In = TypeVar("_In")
_Out = TypeVar("_Out")
_T = TypeVar("_T")


class Runner(abc.ABC):
    """Applies a function to batches. `workers` is how many batches run at once."""

    name: str
    distributed: bool = False

    @property
    @abc.abstractmethod
    def workers(self) -> int: ...

    def split(self, items: Sequence[_T]) -> list[Sequence[_T]]:
        """`items` in shards for `map`: a few per worker, so one slow shard does not hold the
        rest back, and not so many that shipping them costs more than it spreads."""
        return shards(items, self.workers * SHARDS_PER_WORKER)

    @abc.abstractmethod
    def map(self, fn: Callable[[_In], _Out], items: Sequence[_In]) -> list[_Out]:
        """`[fn(item) for item in items]`, in order."""

    @abc.abstractmethod
    def as_completed(
        self, fn: Callable[[_In], _Out], items: Sequence[_In], window: int
    ) -> Iterator[_Out]:
        """`fn(item)` for every item, each as soon as it is done, at most `window` at once (so a
        slow batch does not hold the others back, nor all inputs sit in memory at once)."""


class LocalRunner(Runner):
    """Everything in this process, one batch after another: the default."""

    name = "local"

    @property
    def workers(self) -> int:
        return 1

    def map(self, fn: Callable[[_In], _Out], items: Sequence[_In]) -> list[_Out]:
        return [fn(item) for item in items]

    def as_completed(
        self, fn: Callable[[_In], _Out], items: Sequence[_In], window: int
    ) -> Iterator[_Out]:
        return (fn(item) for item in items)


class RayNotInstalled(SynthloopError):
    def __init__(self) -> None:
        super().__init__(
            "--runner ray needs Ray, which is not installed; install the extra: "
            "pip install 'synthloop[ray]' (or run with --runner local)"
        )


class RayRunner(Runner):
    """Batches as Ray tasks, on a local cluster or the one at `address`. `workers` defaults to
    the cluster's CPUs."""

    name = "ray"
    distributed = True

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.address, self._workers = address, workers

    @property
    def workers(self) -> int:
        ray = self._connect()
        return self._workers or max(1, int(ray.cluster_resources().get("CPU", 1)))

    def map(self, fn: Callable[[_In], _Out], items: Sequence[_In]) -> list[_Out]:
        ray = self._connect()
        remote = ray.remote(fn)
        return list(ray.get([remote.remote(item) for item in items]))

    def as_completed(
        self, fn: Callable[[_In], _Out], items: Sequence[_In], window: int
    ) -> Iterator[_Out]:
        ray = self._connect()
        remote = ray.remote(fn)
        waiting = iter(items)
        running = [remote.remote(item) for item in _take(waiting, window)]
        while running:
            done, running = ray.wait(running, num_returns=1)
            running += [remote.remote(item) for item in _take(waiting, 1)]
            yield ray.get(done[0])

    def remote_class(self, cls: type[_T]) -> Any:
        """`cls` as a Ray actor class (shared state across tasks: a run's budget)."""
        return self._connect().remote(cls)

    def _connect(self) -> Any:
        try:
            import ray
        except ImportError:
            raise RayNotInstalled() from None
        if not ray.is_initialized():
            # Workers import synthloop from this interpreter's environment; the dashboard and
            # log streaming are left off: a batch job has no use for them.
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        return ray


RunnerSpec = Runner | str | None


def get_runner(spec: RunnerSpec = None, *, address: str | None = None) -> Runner:
    """A runner from a name (`local`, `ray`) or a runner as it is; None is `local`."""
    if isinstance(spec, Runner):
        return spec
    if spec in (None, "local"):
        return LocalRunner()
    if spec == "ray":
        return RayRunner(address)
    raise SynthloopError(f"unknown runner {spec!r}; choose local or ray")


def shards(items: Sequence[_T], count: int) -> list[Sequence[_T]]:
    """`items` cut into at most `count` contiguous slices of near-equal size, in order."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    cuts, start = [], 0
    for i in range(count):
        stop = start + size + (i < extra)
        cuts.append(items[start:stop])
        start = stop
    return cuts


def _take(items: Iterator[_T], n: int) -> list[_T]:
    return [item for _, item in zip(range(n), items, strict=False)]
