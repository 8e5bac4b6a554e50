"""`fake`: a deterministic stand-in for a model, for tests, dry runs and the demo.

Not a model: its text is drawn from a word list seeded by the request's digest, so the same
request always gets the same text and nothing leaves the process. Its model name says so.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any, ClassVar

from synthloop.generate.llm.base import Backend, Completion, Request, estimate_tokens

__all__ = ["FAKE_MODEL", "FakeBackend"]

FAKE_MODEL = "fake (not a model)"

_WORDS = (
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
)


class FakeBackend(Backend):
    """Same request, same completion. With a schema, the text is JSON matching it (objects,
    arrays, strings, numbers, integers, booleans, null, enums, bounds on numbers)."""

    backend_type: ClassVar[str] = "fake"

    def __init__(self, *, words: int = 12, model: str = FAKE_MODEL) -> None:
        self.words = words
        self.model = model if "not a model" in model else f"{model} (fake, not a model)"

    async def complete(self, request: Request) -> Completion:
        rng = random.Random(request.digest())
        if request.schema is not None:
            text = json.dumps(_value(request.schema, rng), ensure_ascii=False)
        else:
            limit = request.params.max_tokens
            count = min(self.words, limit) if limit else self.words
            text = " ".join(rng.choice(_WORDS) for _ in range(count))
        return Completion(
            text=text,
            finish_reason="stop",
            prompt_tokens=estimate_tokens(request.prompt_text()),
            completion_tokens=estimate_tokens(text),
            model=self.model,
            raw=None,
            tokens_estimated=True,
        )


def _value(schema: Mapping[str, Any], rng: random.Random) -> Any:
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(list(schema["enum"]))
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _value(sub, rng) for name, sub in props.items()}
    if kind == "array":
        # prefixItems fixes the first items' schemas (a dialogue's alternating roles, say).
        prefix = schema.get("prefixItems", [])
        count = max(int(schema.get("minItems", 1)), len(prefix), 1)
        items = schema.get("items", {})
        return [_value(prefix[i] if i < len(prefix) else items, rng) for i in range(count)]
    if kind == "integer":
        return rng.randint(int(schema.get("minimum", 0)), int(schema.get("maximum", 100)))
    if kind == "number":
        low, high = float(schema.get("minimum", 0.0)), float(schema.get("maximum", 1.0))
        return round(rng.uniform(low, high), 3)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return " ".join(rng.choice(_WORDS) for _ in range(3))
