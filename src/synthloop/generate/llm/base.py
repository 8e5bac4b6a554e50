"""The backend contract: a request in, a completion out, or one typed error.

A backend is a small class with one async method, `complete`. The runner (later in issue 5)
retries, caches and budgets around it; a backend only speaks to its model once per call.
"""

from __future__ import annotations

import abc
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self

import orjson

from synthloop.errors import SynthloopError

__all__ = [
    "Backend",
    "BackendError",
    "BadResponse",
    "Completion",
    "ConnectionFailed",
    "Params",
    "RateLimited",
    "Request",
    "RequestRejected",
    "RequestTimeout",
    "ServerError",
    "estimate_tokens",
]

Message = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Params:
    """Sampling parameters; None means "the backend's default" and is not sent."""

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_body(self) -> dict[str, Any]:
        """The parameters as chat-completions body keys, unset ones left out."""
        body: dict[str, Any] = {
            key: value
            for key, value in (
                ("temperature", self.temperature),
                ("max_tokens", self.max_tokens),
                ("top_p", self.top_p),
                ("stop", list(self.stop) if self.stop is not None else None),
                ("seed", self.seed),
            )
            if value is not None
        }
        body.update(self.extra)
        return body


@dataclass(frozen=True, slots=True)
class Request:
    """One fully rendered chat request. `schema` asks for JSON output matching it."""

    messages: Sequence[Message]
    params: Params = field(default_factory=Params)
    schema: Mapping[str, Any] | None = None
    # The rendering, kept: a request is rendered for its unit's key, its cache key and the fake
    # backend's seed, and its parts are not meant to change once it is made.
    _rendered: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def render(self) -> bytes:
        """Canonical bytes of the request (sorted keys): equal requests render equal."""
        if self._rendered is None:
            rendered = orjson.dumps(
                {
                    "messages": [dict(m) for m in self.messages],
                    "params": self.params.to_body(),
                    "schema": self.schema,
                },
                option=orjson.OPT_SORT_KEYS,
            )
            object.__setattr__(self, "_rendered", rendered)  # frozen: set once, by hand
            return rendered
        return self._rendered

    def digest(self) -> str:
        """sha256 of `render()`: the fake backend's seed, part of the runner's cache key."""
        return hashlib.sha256(self.render()).hexdigest()

    def prompt_text(self) -> str:
        return "\n".join(m.get("content", "") for m in self.messages)


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer. `tokens_estimated` is True when the server reported no usage."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    raw: Mapping[str, Any] | None = None
    tokens_estimated: bool = False


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token) for dry runs and silent servers."""
    return math.ceil(len(text) / 4)


class BackendError(SynthloopError):
    """A request that produced no completion. `reason` is short and machine-readable: it
    becomes a failed record's reason."""

    reason: str = "backend_error"


class RateLimited(BackendError):
    reason = "rate_limited"

    def __init__(self, retry_after: float | None) -> None:
        hint = f"retry after {retry_after:g} s" if retry_after is not None else "no Retry-After"
        super().__init__(f"the server answered 429 Too Many Requests ({hint})")
        self.retry_after = retry_after


class ServerError(BackendError):
    reason = "server_error"

    def __init__(self, status: int) -> None:
        super().__init__(f"the server answered HTTP {status}; it may succeed on a retry")
        self.status = status


class RequestRejected(BackendError):
    """A 4xx other than 429: the request itself is wrong (bad key, unknown model...)."""

    reason = "rejected"

    def __init__(self, status: int, body: str) -> None:
        super().__init__(
            f"the server rejected the request with HTTP {status}: {body[:300]}; "
            "check the backend's base_url, model and API key"
        )
        self.status = status
        self.body = body


class RequestTimeout(BackendError):
    reason = "timeout"

    def __init__(self, timeout: float) -> None:
        super().__init__(
            f"no complete answer within {timeout:g} s; raise the backend's `timeout` "
            "if the model is slow"
        )
        self.timeout = timeout


class ConnectionFailed(BackendError):
    reason = "connection_error"

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"cannot reach {url}: {detail}; is the server running?")
        self.url = url


class BadResponse(BackendError):
    """An answer that is not a usable completion. `reason` is one of `truncated_body`,
    `invalid_json`, `missing_fields`; `raw` is the body (possibly cut short)."""

    def __init__(self, reason: str, raw: bytes, detail: str = "") -> None:
        super().__init__(f"unusable response ({reason}){': ' + detail if detail else ''}")
        self.reason = reason
        self.raw = raw


class Backend(abc.ABC):
    """A model behind one method. Subclasses are constructed from a recipe's backend mapping
    (`get_backend(type, **config)`) and registered in the `synthloop.backends` entry-point
    group. Use as an async context manager, or call `aclose()`, to release connections."""

    backend_type: ClassVar[str]
    model: str

    @abc.abstractmethod
    async def complete(self, request: Request) -> Completion:
        """Send one request; return its completion or raise a `BackendError`."""

    def cache_identity(self) -> str:
        """What besides the request decides the answer: part of every cache key. A backend
        whose answers also depend on where it is (a base URL) says so."""
        return f"{self.backend_type}:{self.model}"

    async def aclose(self) -> None:  # noqa: B027 (optional hook, nothing to release by default)
        """Release what the backend holds (sessions, connections). Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
