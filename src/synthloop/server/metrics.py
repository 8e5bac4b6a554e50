"""In-process metrics in the Prometheus text format: request counts and latency by route, plus
gauges read at scrape time. Each server worker keeps its own counters."""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BUCKETS", "Metrics", "MetricsMiddleware"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Counters and latency histograms, safe to update from the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], list[int]] = {}
        self.latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self.submissions: dict[str, int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            counts = self.latency.setdefault((method, route), [0] * (len(BUCKETS) + 1))
            counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.latency_sum[(method, route)] += seconds

    def submitted(self, status: str) -> None:
        with self._lock:
            self.submissions[status] += 1

    def render(self, queue_depth: dict[str, int]) -> str:
        with self._lock:
            lines = [*self._requests(), *self._latency(), *self._submissions()]
        lines += _gauge(
            "synthloop_queue_depth", "Queued records per dataset.", "dataset", queue_depth
        )
        return "\n".join(lines) + "\n"

    def _requests(self) -> Iterable[str]:
        yield "# HELP synthloop_http_requests_total HTTP requests by route and status."
        yield "# TYPE synthloop_http_requests_total counter"
        for (method, route, status), n in sorted(self.requests.items()):
            labels = f'method="{method}",route="{route}",status="{status}"'
            yield f"synthloop_http_requests_total{{{labels}}} {n}"

    def _latency(self) -> Iterable[str]:
        name = "synthloop_http_request_seconds"
        yield f"# HELP {name} HTTP request latency by route."
        yield f"# TYPE {name} histogram"
        for (method, route), counts in sorted(self.latency.items()):
            labels = f'method="{method}",route="{route}"'
            running = 0
            for bound, n in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                running += n
                yield f'{name}_bucket{{{labels},le="{bound}"}} {running}'
            yield f"{name}_sum{{{labels}}} {self.latency_sum[(method, route)]:.6f}"
            yield f"{name}_count{{{labels}}} {running}"

    def _submissions(self) -> Iterable[str]:
        yield "# HELP synthloop_responses_total Responses stored through the API, by status."
        yield "# TYPE synthloop_responses_total counter"
        for status, n in sorted(self.submissions.items()):
            yield f'synthloop_responses_total{{status="{status}"}} {n}'


def _gauge(name: str, help: str, label: str, values: dict[str, int]) -> list[str]:
    lines = [f"# HELP {name} {help}", f"# TYPE {name} gauge"]
    return lines + [f'{name}{{{label}="{key}"}} {n}' for key, n in sorted(values.items())]


class MetricsMiddleware:
    """Times every HTTP request and counts it under its route template (not its raw path, so
    record ids do not explode the label space)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - start)
