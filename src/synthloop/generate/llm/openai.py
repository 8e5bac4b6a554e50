"""`openai`: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp
server, TGI, SGLang).

Throughput decides the client: one aiohttp session whose connection pool is sized to the
concurrency, orjson for bodies, no per-request objects beyond the call itself. The official
SDK tops out near 150 requests/s here; see bench/backend.py for this client's figures.
"""

from __future__ import annotations

import email.utils
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp
import orjson

from synthloop.generate.llm.base import (
    Backend,
    BadResponse,
    Completion,
    ConnectionFailed,
    RateLimited,
    Request,
    RequestRejected,
    RequestTimeout,
    ServerError,
    estimate_tokens,
)

__all__ = ["OpenAIBackend", "parse_retry_after"]


class OpenAIBackend(Backend):
    """Chat completions at `base_url` (ending in `/v1`, as the servers document it).

    The API key is read from the environment variable named by `api_key_env` when the backend
    is built; a local server usually needs none, so a missing variable is not an error.
    `max_concurrency` sizes the connection pool; `timeout` bounds each request, end to end.
    """

    backend_type: ClassVar[str] = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_concurrency: int = 50,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self._url = f"{self.base_url}/chat/completions"
        self._headers = {"Content-Type": "application/json"}
        api_key = os.environ.get(api_key_env)
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Built on first use: a session belongs to the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_concurrency, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers=self._headers,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    def body(self, request: Request) -> dict[str, Any]:
        """The JSON body sent for `request`."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in request.messages],
            **request.params.to_body(),
        }
        if request.schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": dict(request.schema)},
            }
        return body

    def cache_identity(self) -> str:
        return f"openai:{self.base_url}:{self.model}"

    async def complete(self, request: Request) -> Completion:
        data = orjson.dumps(self.body(request))
        try:
            async with self._client().post(self._url, data=data) as response:
                try:
                    raw = await response.read()
                except aiohttp.ClientPayloadError as exc:
                    raise BadResponse("truncated_body", b"", str(exc)) from None
                status, retry_after = response.status, response.headers.get("Retry-After")
        except TimeoutError:  # asyncio's timeout error is this one since Python 3.11
            raise RequestTimeout(self.timeout) from None
        except aiohttp.ClientConnectionError as exc:
            raise ConnectionFailed(self._url, str(exc) or type(exc).__name__) from exc
        if status == 429:
            raise RateLimited(parse_retry_after(retry_after))
        if status >= 500:
            raise ServerError(status)
        if status != 200:
            raise RequestRejected(status, raw.decode("utf-8", "replace"))
        return _completion(raw, self.model, request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _completion(raw: bytes, model: str, request: Request) -> Completion:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadResponse("invalid_json", raw[:2000], str(exc)) from None
    try:
        choice = payload["choices"][0]
        text = choice["message"]["content"]
        if not isinstance(text, str):
            raise TypeError("message.content is not a string")
    except (KeyError, IndexError, TypeError) as exc:
        raise BadResponse(
            "missing_fields", raw[:2000], f"no choices[0].message.content: {exc}"
        ) from None
    usage = payload.get("usage")
    prompt, completion = _usage(usage)
    return Completion(
        text=text,
        finish_reason=str(choice.get("finish_reason") or "unknown"),
        prompt_tokens=prompt if prompt is not None else estimate_tokens(request.prompt_text()),
        completion_tokens=completion if completion is not None else estimate_tokens(text),
        model=str(payload.get("model") or model),
        raw=payload,
        tokens_estimated=prompt is None or completion is None,
    )


def _usage(usage: object) -> tuple[int | None, int | None]:
    if not isinstance(usage, Mapping):
        return None, None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (
        prompt if isinstance(prompt, int) else None,
        completion if isinstance(completion, int) else None,
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110).
    None when absent or unreadable; never negative."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
