"""A recipe's `source` as task inputs: `SourceItem`s with stable ids.

A file row is named by the file and its place in it ("prompts.jsonl line 3"), a dataset record
by its id, a document by its path under the folder, an inline item by its position. Every bad
row of a file is reported at once, with its line, before anything is generated.
"""

from __future__ import annotations

from pathlib import Path

from synthloop.errors import Problem
from synthloop.generate.recipe import Recipe, RecipeError
from synthloop.generate.tasks.base import SourceItem
from synthloop.io.readers import open_reader
from synthloop.store.store import Store

__all__ = ["load_items"]


def load_items(recipe: Recipe, store: Store) -> list[SourceItem]:
    """The recipe's inputs, in order, `source.limit` at most. Raises RecipeError listing every
    problem (a missing file, a row without the input field, an unknown dataset)."""
    source = recipe.source
    items: list[SourceItem]
    if source.file is not None:
        items = _file_items(recipe.resolve(source.file), source.field)
    elif source.dataset is not None:
        dataset = store.dataset(source.dataset)
        items = [
            SourceItem(str(r.external_id), r.fields) for r in dataset.records(status=source.status)
        ]
    elif source.folder is not None:
        from synthloop.generate.tasks.documents import read_folder

        items = list(read_folder(recipe.resolve(source.folder)))
    elif source.items is not None:
        items = [SourceItem(f"item {i}", row) for i, row in enumerate(source.items, 1)]
    else:
        items = []
    return items[: source.limit] if source.limit is not None else items


def _file_items(path: Path, field: str | None) -> list[SourceItem]:
    def check(columns: list[str]) -> list[str]:
        if field is not None and field not in columns:
            return [f"has no column {field!r} (columns: {', '.join(columns)}); fix source.field"]
        return []

    try:
        reader = open_reader(path, None, check)
    except ValueError as exc:
        raise RecipeError([Problem("source.file", str(exc))]) from None
    items, problems = [], []
    for where, row in reader:
        if isinstance(row, str):
            problems.append(Problem(f"{path.name} {where}", row))
        elif field is not None and not isinstance(row.get(field), str):
            problems.append(
                Problem(
                    f"{path.name} {where}",
                    f"field {field!r} must hold the input text; got {row.get(field)!r}",
                )
            )
        else:
            items.append(SourceItem(f"{path.name} {where}", row))
    if problems:
        raise RecipeError(problems, source=str(path))
    return items
