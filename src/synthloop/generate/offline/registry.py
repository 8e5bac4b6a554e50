"""The augmentation registry: built-in augmentations register here exactly as a plugin would.

An augmentation is a function `(text, rng, **params) -> str | Augmented`. It must draw every
random choice from `rng` (a seeded `random.Random`) so a run can be repeated exactly.

    @register("shout")
    def shout(text: str, rng: random.Random, marks: int = 1) -> str:
        return text.upper() + "!" * marks
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from synthloop.errors import ProblemList

__all__ = ["AugmentError", "Augmentation", "Augmented", "augmentation", "names", "register"]


class AugmentError(ProblemList):
    """Augmentation steps or rows that cannot be augmented as asked; nothing was made."""

    headline = "invalid augmentation"


@dataclass
class Augmented:
    """An augmentation's result: the new text, PII it put in (type, value, span) and details
    of what it chose (recorded beside the step's parameters in provenance)."""

    text: str
    pii: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class Augmentation(Protocol):
    def __call__(self, text: str, rng: random.Random, /, **params: Any) -> str | Augmented: ...


_REGISTRY: dict[str, Augmentation] = {}
_Fn = TypeVar("_Fn", bound=Callable[..., str | Augmented])


def register(
    name: str,
) -> Callable[[Callable[..., str | Augmented]], Callable[..., str | Augmented]]:
    """Register an augmentation under `name` (a later registration of the same name replaces it)."""

    def decorate(fn: _Fn) -> _Fn:
        _REGISTRY[name] = fn
        return fn

    return decorate


def augmentation(name: str) -> Augmentation | None:
    return _REGISTRY.get(name)


def names() -> list[str]:
    """Registered augmentation names, sorted."""
    return sorted(_REGISTRY)
