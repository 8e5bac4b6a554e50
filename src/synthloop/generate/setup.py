"""Before a run: the backend, the task, the dataset and the units still to do.

Everything a recipe can get wrong is checked here, before any request: an unknown backend
option, task options, a dataset whose required fields a failed generation could not fill, a
source that is missing. Units whose records the dataset already holds are left out.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import select

from synthloop.curate.run import build_steps
from synthloop.errors import DatasetNotFound, Problem, ProblemList, SynthloopError
from synthloop.generate.llm.base import Backend, Request
from synthloop.generate.llm.registry import backend_class
from synthloop.generate.recipe import Recipe, RecipeError
from synthloop.generate.sources import load_items
from synthloop.generate.tasks.base import Task, Unit, get_task
from synthloop.settings import Settings
from synthloop.store import tables as t
from synthloop.store.dataset import Dataset
from synthloop.store.store import Store

__all__ = ["Plan", "backend_for", "create_dataset", "prepare"]

# A failed record with one of these reasons is sent again by the next run without being asked:
# the failure said nothing about the request (a cap was reached before it was sent).
RETRIED_BY_DEFAULT = frozenset({"budget_exhausted"})
_CHUNK = 500


@dataclass
class Plan:
    backend: Backend
    task: Task
    dataset: Dataset | None  # None only in a dry run for a dataset that does not exist yet
    total: int
    todo: list[Unit]
    replace: set[str] = field(default_factory=set)  # keys of failed records a new answer replaces


def prepare(store: Store, recipe: Recipe, *, retry_failed: bool) -> Plan:
    """Check everything and work out the units to do; raise one RecipeError listing every
    problem found. Creates nothing: `create_dataset` does, once the caller is ready to run."""
    problems: list[Problem] = []
    task_cls = _collect(problems, "task", lambda: get_task(recipe.task))
    dataset = _existing(store, recipe.dataset)
    if task_cls is not None and task_cls.kind == "suggestions":
        if dataset is None:
            problems.append(
                Problem(
                    "dataset",
                    f"task {recipe.task!r} annotates records of an existing dataset; "
                    f"{recipe.dataset!r} does not exist",
                )
            )
        if _no_source(recipe):
            source = recipe.source.model_copy(update={"dataset": recipe.dataset})
            recipe = recipe.model_copy(update={"source": source})
    backend = _collect(problems, "backend", lambda: backend_for(recipe))
    task = None
    if task_cls is not None:  # checked even when the backend is wrong, to report both at once
        model = backend.model if backend is not None else ""
        task = _collect(problems, "options", lambda: _task(task_cls, recipe, model, dataset))
    items = _collect(problems, "source", lambda: load_items(recipe, store))
    _collect(problems, "curate", lambda: build_steps(recipe.curate, where="curate"))
    if task is not None and dataset is not None and task.kind == "records":
        _collect(problems, "dataset", lambda: _check_fields(dataset, task))
    if problems or task is None or backend is None or items is None:
        raise recipe.error(problems)
    units = _unique(task.units(items))
    if recipe.boost:
        units += _variations(units, recipe.boost)
    todo, replace = units, set[str]()
    if dataset is not None:
        todo, replace = _remaining(dataset, task, units, retry_failed)
    return Plan(backend, task, dataset, len(units), todo, replace)


def _variations(units: list[Unit], boost: dict[str, int]) -> list[Unit]:
    """Extra units for boosted source items: the same requests, each asking for an answer
    unlike the earlier ones (so the requests, their cache keys and the records differ)."""
    extra = []
    for unit in units:
        for j in range(1, boost.get(unit.parent or "", 0) + 1):
            note = f"\n\n(Variation {j}: answer differently from earlier answers to this.)"
            requests = tuple(_with_note(r, note) for r in unit.requests)
            extra.append(dataclasses.replace(unit, key=f"{unit.key}-v{j}", requests=requests))
    return extra


def _with_note(request: Request, note: str) -> Request:
    *head, last = request.messages
    messages = (*head, {**last, "content": last["content"] + note})
    return Request(messages, request.params, request.schema)


def create_dataset(store: Store, plan: Plan, recipe: Recipe) -> Dataset:
    """The plan's dataset, created with the task's settings if it does not exist yet."""
    if plan.dataset is None:
        plan.dataset = store.create_dataset(recipe.dataset, plan.task.settings())
    return plan.dataset


_T = TypeVar("_T")


def _collect(problems: list[Problem], where: str, check: Callable[[], _T]) -> _T | None:
    """`check()`, or None with its problems added to `problems`."""
    try:
        return check()
    except ProblemList as exc:
        problems.extend(exc.problems)
    except SynthloopError as exc:  # an unknown task or backend type, a missing source dataset
        problems.append(Problem(where, str(exc)))
    return None


def _existing(store: Store, name: str) -> Dataset | None:
    try:
        return store.dataset(name)
    except DatasetNotFound:
        return None


def _no_source(recipe: Recipe) -> bool:
    s = recipe.source
    return s.file is None and s.dataset is None and s.folder is None and s.items is None


def backend_for(recipe: Recipe) -> Backend:
    """The recipe's backend, built from its `backend` section (a RecipeError when it is wrong)."""
    spec = recipe.backend
    cls = backend_class(spec.type)
    config = spec.config()
    accepted = inspect.signature(cls.__init__).parameters
    if "max_concurrency" not in accepted:
        config.pop("max_concurrency")  # the runner's bound; this backend has no pool to size
    unknown = sorted(k for k in config if k not in accepted)
    if unknown:
        known = ", ".join(p for p in accepted if p != "self")
        raise RecipeError(
            [
                Problem(
                    f"backend.{k}",
                    f"the {spec.type} backend takes no option {k!r} (it takes: {known or 'none'})",
                )
                for k in unknown
            ]
        )
    try:
        return cls(**config)
    except TypeError as exc:
        raise RecipeError([Problem("backend", f"{spec.type}: {exc}")]) from None


def _task(cls: type[Task], recipe: Recipe, model: str, dataset: Dataset | None) -> Task:
    options = dict(recipe.options)
    fields = cls.options.model_fields
    problems = []
    if recipe.n is not None:
        if "n" in fields:
            options.setdefault("n", recipe.n)
        else:
            problems.append(Problem("n", f"task {cls.name!r} makes one output per input; remove n"))
    if recipe.source.field is not None and "field" in fields:
        options.setdefault("field", recipe.source.field)
    try:
        config = cls.options(**options)
    except ValidationError as exc:
        problems += [
            Problem(f"options.{'.'.join(map(str, e['loc']))}", e["msg"]) for e in exc.errors()
        ]
    if problems:
        raise RecipeError(problems)
    return cls(
        config,
        params=recipe.params.to_params(),
        model=model,
        template_version=recipe.template_version,
        settings=dataset.settings if dataset is not None else None,
        feedback=recipe.feedback,
    )


def _check_fields(dataset: Dataset, task: Task) -> None:
    """A failed unit's record holds only what the unit carries; the dataset must not require
    the fields only an answer fills."""
    written = Settings.parse(task.settings())
    optional = {f.name for f in written.fields if not f.required}
    have = {f.name: f for f in dataset.settings.fields}
    problems = [
        Problem(
            f"dataset {dataset.name!r} field {name!r}",
            "is required, but a failed generation cannot fill it; make it `required: false` "
            "in the dataset's settings, or generate into a new dataset",
        )
        for name in sorted(optional)
        if name in have and have[name].required
    ]
    missing = [f.name for f in written.fields if f.name not in have]
    problems += [
        Problem(
            f"dataset {dataset.name!r}",
            f"has no field {name!r}, which task {task.name!r} writes; generate into a new "
            "dataset (it is created with the task's fields)",
        )
        for name in missing
    ]
    if problems:
        raise RecipeError(problems)


def _unique(units: Any) -> list[Unit]:
    seen: set[str] = set()
    out = []
    for unit in units:
        if unit.key not in seen:  # two source rows asking the same thing make one record
            seen.add(unit.key)
            out.append(unit)
    return out


def _remaining(
    dataset: Dataset, task: Task, units: list[Unit], retry_failed: bool
) -> tuple[list[Unit], set[str]]:
    keys = [u.key for u in units]
    if task.kind == "suggestions":
        done = _suggested(dataset, keys, f"{task.name}:{task.model}")
        return [u for u in units if u.key not in done], set()
    status = _statuses(dataset, keys)
    replace = {
        k
        for k, (state, reason) in status.items()
        if state == "failed" and (retry_failed or reason in RETRIED_BY_DEFAULT)
    }
    todo = [u for u in units if u.key not in status or u.key in replace]
    return todo, replace


def _statuses(dataset: Dataset, keys: list[str]) -> dict[str, tuple[str, str | None]]:
    c = t.records.c
    found: dict[str, tuple[str, str | None]] = {}
    with dataset.engine.connect() as conn:
        for start in range(0, len(keys), _CHUNK):
            query = select(c.external_id, c.status, c.reason).where(
                c.dataset_id == dataset.id, c.external_id.in_(keys[start : start + _CHUNK])
            )
            found.update((k, (s, r)) for k, s, r in conn.execute(query))
    return found


def _suggested(dataset: Dataset, keys: list[str], agent: str) -> set[str]:
    r, s = t.records.c, t.suggestions.c
    done: set[str] = set()
    with dataset.engine.connect() as conn:
        for start in range(0, len(keys), _CHUNK):
            query = (
                select(r.external_id)
                .join(t.suggestions, s.record_id == r.id)
                .where(r.dataset_id == dataset.id, s.agent == agent)
                .where(r.external_id.in_(keys[start : start + _CHUNK]))
            )
            done.update(k for (k,) in conn.execute(query))
    return done
