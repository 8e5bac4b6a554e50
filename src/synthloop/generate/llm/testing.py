"""A real chat-completions server for tests and benchmarks, with latency and faults on demand.

`ChatServer` runs aiohttp.web on its own event loop in a background thread and answers
`POST /v1/chat/completions` like an OpenAI-compatible server: a deterministic reply, token
usage, and JSON matching `response_format`'s schema when one is asked for. Faults queued with
`inject` (or `storm`) answer the next requests in order; `faults={kind: rate}` adds random ones
from a seeded generator, so that a run against the server meets a reproducible mix of failures.

Every chat request is logged (`server.log`, and a JSON-lines file with `log_path`) by the digest
of its canonical body and its outcome, so a test can tell which requests were sent how often
and which were answered; the file survives a client killed with SIGKILL. Run the server in a
process of its own with `python -m synthloop.generate.llm.testing --latency 0.2 --log log.jsonl
--fault rate_limit=0.05` (benchmarks do, so that the server's CPU is not the client's); it
prints its base URL as its first line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import email.utils
import hashlib
import os
import random
import threading
import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any, Literal, NamedTuple, Self

import orjson
from aiohttp import web

from synthloop.generate.llm.base import estimate_tokens
from synthloop.generate.llm.fake import _value

__all__ = [
    "FAULT_KINDS",
    "VOLATILE_KEYS",
    "ChatServer",
    "Fault",
    "FaultKind",
    "LogEntry",
    "http_date",
    "request_digest",
]

FaultKind = Literal[
    "rate_limit", "server_error", "stall", "truncated", "invalid_json", "missing", "off_schema"
]
FAULT_KINDS: tuple[FaultKind, ...] = typing.get_args(FaultKind)

# Body keys that change how an answer is delivered or attributed, not what it is.
VOLATILE_KEYS = frozenset({"stream", "stream_options", "user"})

RANDOM_ERROR_STATUSES = (500, 503)  # a random server_error is one of these, drawn with the rest


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure. `rate_limit` sends 429 with `retry_after` as the Retry-After
    header (seconds or an HTTP-date; None sends none); `server_error` sends `status`; `stall`
    answers nothing for `stall` seconds (or until the server stops); `truncated` declares a
    longer body than it sends and drops the connection; `invalid_json` sends a 200 that is not
    JSON; `missing` sends a 200 JSON body without choices; `off_schema` sends a well-formed
    200 whose answer does not match what was asked: JSON with the wrong keys when a schema was
    asked for (a model ignoring it), plain text otherwise (so a task's re-ask can be tested)."""

    kind: FaultKind
    retry_after: str | None = "1"
    status: int = 500
    stall: float = 30.0


class LogEntry(NamedTuple):
    """One chat request as the server answered it. `outcome` is "ok", the fault kind, or
    "bad_request" (a body that is not a JSON object: 400, no fault used). `time` is Unix
    seconds when the server began its answer (after `latency`; a stall's start)."""

    digest: str
    outcome: str
    time: float


def request_digest(body: Mapping[str, Any]) -> str:
    """sha256 hex of a parsed chat-completions body, canonically: every top-level key except
    `VOLATILE_KEYS` ("stream", "stream_options", "user"), serialised by orjson with sorted keys
    (nested ones too). For `OpenAIBackend.body(request)` that is "model", "messages",
    "response_format" (when a schema is asked for) and the sampling keys of `Params.to_body()`
    ("temperature", "max_tokens", "top_p", "stop", "seed" and any extra ones). A test computes
    an input's digest with `request_digest(backend.body(request))`."""
    canonical = {key: value for key, value in body.items() if key not in VOLATILE_KEYS}
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def http_date(seconds_from_now: float) -> str:
    """An HTTP-date (as in Retry-After) `seconds_from_now` seconds ahead."""
    return email.utils.formatdate(
        time.time() + seconds_from_now,
        usegmt=True,
    )


class ChatServer:
    """Start with `with ChatServer(latency=0.05) as server:`; `server.base_url` ends in /v1.
    `requests` counts the chat requests received (faulted ones included); `log` holds a
    `LogEntry` per request answered or stalled.

    `faults` maps fault kinds to probabilities: each request without a queued fault draws one
    independently from `random.Random(fault_seed)` (the sequence of draws is fixed by the seed;
    which concurrent request gets which draw is not). Random faults use `fault_retry_after` for
    429s, `stall_seconds` for stalls (longer than any client timeout a test sets) and a
    server_error status of 500 or 503. `log_path` appends each log entry to that file as a JSON
    line, flushed at once. `poison` maps marker strings to faults: a request whose body holds
    a marker gets that fault every time it is sent, whatever the order (a failure tied to a
    prompt, as a model that always chokes on it)."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Mapping[FaultKind, float] | None = None,
        fault_seed: int = 0,
        stall_seconds: float = 30.0,
        fault_retry_after: str | None = "1",
        log_path: str | os.PathLike[str] | None = None,
        poison: Mapping[str, Fault] | None = None,
    ) -> None:
        self.latency = latency
        self._poison = [(marker.encode(), fault) for marker, fault in (poison or {}).items()]
        self.host = host
        self.port = port
        self.requests = 0
        self.log: list[LogEntry] = []
        self.stall_seconds = stall_seconds
        self.fault_retry_after = fault_retry_after
        self.log_path = log_path
        self._rates = _check_rates(faults or {})
        self._rng = random.Random(fault_seed)
        self._faults: collections.deque[Fault] = collections.deque()
        self._lock = threading.Lock()
        self._log_file: IO[bytes] | None = None
        self._loop = _new_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def inject(self, *faults: Fault) -> None:
        """Answer the next len(faults) requests with these faults, in order."""
        with self._lock:
            self._faults.extend(faults)

    def storm(self, count: int, retry_after: str | None = "1") -> None:
        """Answer the next `count` requests with 429 and this Retry-After (None: no header)."""
        self.inject(*[Fault("rate_limit", retry_after=retry_after)] * count)

    def completed_digests(self) -> set[str]:
        """The digests of the requests answered ok."""
        with self._lock:
            return {entry.digest for entry in self.log if entry.outcome == "ok"}

    def count_by_digest(self) -> collections.Counter[str]:
        """How many requests each digest was sent in, whatever their outcome."""
        with self._lock:
            return collections.Counter(entry.digest for entry in self.log)

    def reset_log(self) -> None:
        """Empty `log` (the file, if any, is left as it is)."""
        with self._lock:
            self.log.clear()

    def start(self) -> Self:
        if self.log_path is not None:
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        with self._lock:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _start(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        assert self._closing is not None
        assert self._runner is not None
        self._closing.set()
        await self._runner.cleanup()

    def _next_fault(self, raw: bytes, draw: bool) -> Fault | None:
        """The request's fault: its poison's, else a queued one, else a random draw. A poisoned
        request takes no queued fault and no draw, so those stay for the requests they were
        meant for."""
        with self._lock:
            self.requests += 1
            if not draw:
                return None
            poisoned = next((f for marker, f in self._poison if marker in raw), None)
            if poisoned is not None:
                return poisoned
            return self._faults.popleft() if self._faults else self._draw()

    def _draw(self) -> Fault | None:
        if not self._rates:
            return None
        point = self._rng.random()
        for kind, rate in self._rates.items():
            if point < rate:
                status = self._rng.choice(RANDOM_ERROR_STATUSES) if kind == "server_error" else 500
                return Fault(kind, self.fault_retry_after, status, self.stall_seconds)
            point -= rate
        return None

    def _record(self, digest: str, outcome: str) -> None:
        entry = LogEntry(digest, outcome, time.time())
        with self._lock:
            self.log.append(entry)
            if self._log_file is not None:
                self._log_file.write(orjson.dumps(entry._asdict()) + b"\n")
                self._log_file.flush()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = _parse(raw)
        fault = self._next_fault(raw, draw=body is not None)
        if self.latency:
            await asyncio.sleep(self.latency)
        if body is None:
            self._record(hashlib.sha256(raw).hexdigest(), "bad_request")
            return web.json_response(
                {"error": {"message": "the request body is not a JSON object"}}, status=400
            )
        self._record(request_digest(body), fault.kind if fault is not None else "ok")
        if fault is not None:
            return await self._fault(request, fault, body)
        return web.Response(body=_reply(body, raw), content_type="application/json")

    async def _fault(
        self, request: web.Request, fault: Fault, body: dict[str, Any]
    ) -> web.StreamResponse:
        if fault.kind == "rate_limit":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return web.json_response(
                {"error": {"message": "rate limited"}}, status=429, headers=headers
            )
        if fault.kind == "server_error":
            return web.json_response({"error": {"message": "injected"}}, status=fault.status)
        if fault.kind == "stall":
            assert self._closing is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.stall)
            return web.Response(body=b"{}", content_type="application/json")
        if fault.kind == "truncated":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = 1000
            await response.prepare(request)
            await response.write(b'{"choices": [{"message": {"con')
            assert request.transport is not None
            request.transport.close()
            return response
        if fault.kind == "invalid_json":
            return web.Response(body=b'{"choices": [oops', content_type="application/json")
        if fault.kind == "off_schema":
            return web.Response(body=_off_schema(body), content_type="application/json")
        return web.json_response({"object": "chat.completion", "choices": []})


def _check_rates(faults: Mapping[FaultKind, float]) -> dict[FaultKind, float]:
    """The rates in `FAULT_KINDS` order (so a seed means the same faults whatever the mapping's
    order), or ValueError naming the bad one."""
    for kind, rate in faults.items():
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {kind!r} is unknown; use one of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(
                f"fault rate {kind}={rate!r} is outside 0..1; give the probability that a "
                "request draws it, e.g. 0.05"
            )
    total = sum(faults.values())
    if total > 1.0 + 1e-9:
        raise ValueError(
            f"fault rates add up to {total:g}, more than 1; lower them so that they sum to 1 "
            "at most (1 faults every request)"
        )
    return {kind: faults[kind] for kind in FAULT_KINDS if faults.get(kind)}


def _new_loop() -> asyncio.AbstractEventLoop:
    # uvloop when installed (a dependency on Linux): the server should not be the bottleneck.
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _schema(body: dict[str, Any]) -> Any:
    return (body.get("response_format") or {}).get("json_schema", {}).get("schema")


def _reply(body: dict[str, Any], raw: bytes) -> bytes:
    messages = body.get("messages") or [{}]
    schema = _schema(body)
    if schema is not None:
        rng = random.Random(hashlib.sha256(raw).digest())
        text = orjson.dumps(_value(schema, rng)).decode()
    else:
        text = f"reply to: {str(messages[-1].get('content', ''))[:60]}"
    return _completion(body, text)


def _off_schema(body: dict[str, Any]) -> bytes:
    """A well-formed completion whose answer ignores the request's schema (or, without one, is
    text where JSON might have been expected)."""
    text = '{"wrong": 1}' if _schema(body) is not None else "not what was asked for"
    return _completion(body, text)


def _completion(body: dict[str, Any], text: str) -> bytes:
    messages = body.get("messages") or [{}]
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    return orjson.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": body.get("model", "test-server"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": estimate_tokens(prompt),
                "completion_tokens": estimate_tokens(text),
                "total_tokens": estimate_tokens(prompt) + estimate_tokens(text),
            },
        }
    )


def _fault_arg(value: str) -> tuple[str, float]:
    kind, sep, rate = value.partition("=")
    try:
        if not sep:
            raise ValueError
        return kind.strip(), float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not KIND=RATE; write e.g. --fault rate_limit=0.05"
        ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="A local chat-completions server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument(
        "--fault",
        type=_fault_arg,
        action="append",
        default=[],
        metavar="KIND=RATE",
        help=f"a random fault's probability per request (repeatable); KIND is one of "
        f"{', '.join(FAULT_KINDS)}",
    )
    parser.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws")
    parser.add_argument("--stall-seconds", type=float, default=30.0, help="a random stall's length")
    parser.add_argument("--log", default=None, metavar="PATH", help="append a JSON line a request")
    return parser


def main() -> None:
    parser = _parser()
    args = parser.parse_args()
    try:
        server = ChatServer(
            latency=args.latency,
            host=args.host,
            port=args.port,
            faults=dict(args.fault),
            fault_seed=args.fault_seed,
            stall_seconds=args.stall_seconds,
            log_path=args.log,
        )
    except ValueError as exc:
        parser.error(str(exc))
    server.start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
