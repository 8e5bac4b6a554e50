"""LLM backends: one small interface (`Backend.complete`), typed errors, and a registry fed by
the `synthloop.backends` entry-point group. `testing` holds a local chat-completions server."""

from synthloop.generate.llm.base import (
    Backend,
    BackendError,
    BadResponse,
    Completion,
    ConnectionFailed,
    Params,
    RateLimited,
    Request,
    RequestRejected,
    RequestTimeout,
    ServerError,
    estimate_tokens,
)
from synthloop.generate.llm.registry import UnknownBackend, backend_types, get_backend

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
    "UnknownBackend",
    "backend_types",
    "estimate_tokens",
    "get_backend",
]
