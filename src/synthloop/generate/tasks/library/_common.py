"""What several built-in tasks share: typed option access, source-field look-up with an error
that names the fix, named criteria (a rubric, a risk taxonomy) and self-contained JSON schemas.

Schemas are inlined (no `$ref`/`$defs`) because the fake backend and several servers'
constrained decoders only follow a schema that spells every level out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from synthloop.errors import SynthloopError
from synthloop.generate.tasks.base import SourceItem, Task, TaskOptions

__all__ = ["Named", "inline_schema", "source_text", "task_options", "unique_names"]

_O = TypeVar("_O", bound=TaskOptions)


class Named(BaseModel):
    """One named criterion or category: `name` is what records and questions call it,
    `description` is what the model is told it means."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=200)
    description: str = ""


def task_options(task: Task, cls: type[_O]) -> _O:
    """`task.config` as its own options class (the base stores it as plain `TaskOptions`)."""
    assert isinstance(task.config, cls)
    return task.config


def unique_names(items: list[Named], what: str) -> list[Named]:
    """`items` unchanged, or a ValueError naming the repeated names."""
    names = [item.name for item in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what} names must be unique; repeated: {', '.join(repeated)}")
    return items


def source_text(task: Task, item: SourceItem, name: str, option: str) -> str:
    """The string in source field `name`, or a SynthloopError naming the item, its fields and
    the option that picks the field."""
    if name not in item.fields:
        known = ", ".join(sorted(item.fields)) or "none"
        raise SynthloopError(
            f"task {task.name!r}: source item {item.id!r} has no field {name!r} "
            f"(its fields: {known}); set the option `{option}:` to the field to read"
        )
    value = item.fields[name]
    if not isinstance(value, str):
        raise SynthloopError(
            f"task {task.name!r}: field {name!r} of source item {item.id!r} is a "
            f"{type(value).__name__}, not text; point `{option}:` at a text field"
        )
    return value


def inline_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` with every `$ref` to its `$defs` replaced by the definition itself."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(dict(schema))
    return resolved
