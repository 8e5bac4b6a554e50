"""Backends are found through the `synthloop.backends` entry-point group; the built-ins
(`fake`, `openai`) are declared there in synthloop's own pyproject.toml, like any plugin's."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from synthloop.errors import SynthloopError
from synthloop.generate.llm.base import Backend

__all__ = ["GROUP", "UnknownBackend", "backend_types", "get_backend"]

GROUP = "synthloop.backends"


class UnknownBackend(SynthloopError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"backend type {name!r} is not registered (known types: {', '.join(known) or 'none'}); "
            f"pick one of them, or install the package that registers {name!r} in the "
            f"{GROUP!r} entry-point group"
        )
        self.name = name
        self.known = known


def backend_types() -> list[str]:
    """The registered backend type names, sorted."""
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def backend_class(name: str) -> type[Backend]:
    for ep in entry_points(group=GROUP, name=name):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise TypeError(f"entry point {ep.value!r} for backend {name!r} is not a Backend")
        return cls
    raise UnknownBackend(name, backend_types())


def get_backend(name: str, **config: Any) -> Backend:
    """A backend of the registered type `name`, built from its configuration mapping."""
    return backend_class(name)(**config)
