"""Synthetic generation. So far: the LLM backends (`synthloop.generate.llm`); tasks, the
runner, the request cache and recipes come next (issue 5)."""

from synthloop.generate.llm import (
    Backend,
    BackendError,
    Completion,
    Params,
    Request,
    backend_types,
    get_backend,
)

__all__ = [
    "Backend",
    "BackendError",
    "Completion",
    "Params",
    "Request",
    "backend_types",
    "get_backend",
]
