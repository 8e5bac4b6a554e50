"""A real chat-completions server for tests and benchmarks, with latency and faults on demand.

`ChatServer` runs aiohttp.web on its own event loop in a background thread and answers
`POST /v1/chat/completions` like an OpenAI-compatible server: a deterministic reply, token
usage, and JSON matching `response_format`'s schema when one is asked for. Faults queued with
`inject` answer the next requests in order. Run it in a process of its own with
`python -m synthloop.generate.llm.testing --latency 0.2` (benchmarks do, so that the server's
CPU is not the client's).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import email.utils
import hashlib
import random
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

import orjson
from aiohttp import web

from synthloop.generate.llm.base import estimate_tokens
from synthloop.generate.llm.fake import _value

__all__ = ["ChatServer", "Fault", "http_date"]

FaultKind = Literal["rate_limit", "server_error", "stall", "truncated", "invalid_json", "missing"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure. `rate_limit` sends 429 with `retry_after` as the Retry-After
    header (seconds or an HTTP-date; None sends none); `server_error` sends `status`; `stall`
    answers nothing for `stall` seconds (or until the server stops); `truncated` declares a
    longer body than it sends and drops the connection; `invalid_json` sends a 200 that is not
    JSON; `missing` sends a 200 JSON body without choices."""

    kind: FaultKind
    retry_after: str | None = "1"
    status: int = 500
    stall: float = 30.0


def http_date(seconds_from_now: float) -> str:
    """An HTTP-date (as in Retry-After) `seconds_from_now` seconds ahead."""
    return email.utils.formatdate(
        time.time() + seconds_from_now,
        usegmt=True,
    )


class ChatServer:
    """Start with `with ChatServer(latency=0.05) as server:`; `server.base_url` ends in /v1.
    `requests` counts the chat requests received (faulted ones included)."""

    def __init__(self, *, latency: float = 0.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.latency = latency
        self.host = host
        self.port = port
        self.requests = 0
        self._faults: collections.deque[Fault] = collections.deque()
        self._lock = threading.Lock()
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

    def start(self) -> Self:
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

    def _next_fault(self) -> Fault | None:
        with self._lock:
            self.requests += 1
            return self._faults.popleft() if self._faults else None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        fault = self._next_fault()
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None:
            return await self._fault(request, fault)
        return web.Response(body=_reply(raw), content_type="application/json")

    async def _fault(self, request: web.Request, fault: Fault) -> web.StreamResponse:
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
        return web.json_response({"object": "chat.completion", "choices": []})


def _new_loop() -> asyncio.AbstractEventLoop:
    # uvloop when installed (a dependency on Linux): the server should not be the bottleneck.
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _reply(raw: bytes) -> bytes:
    body: dict[str, Any] = orjson.loads(raw)
    messages = body.get("messages") or [{}]
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
    if schema is not None:
        rng = random.Random(hashlib.sha256(raw).digest())
        text = orjson.dumps(_value(schema, rng)).decode()
    else:
        text = f"reply to: {str(messages[-1].get('content', ''))[:60]}"
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


def main() -> None:
    parser = argparse.ArgumentParser(description="A local chat-completions server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    args = parser.parse_args()
    server = ChatServer(latency=args.latency, host=args.host, port=args.port).start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
