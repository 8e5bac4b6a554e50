"""`curate(store, name, steps)`: run curation steps over a dataset and record every decision.

Steps run in order over the dataset's candidate records (by default the `pending` ones); each
sees what the steps before it kept, with their redactions applied. Nothing is deleted: a
rejected record becomes `rejected` with the step's reason, and the details (the kept duplicate,
the PII types, the matched evaluation item) go to its metadata under `curation`. Kept records
get the steps' notes there too, and redacted fields are rewritten. All of it is written in one
transaction at the end, so an interrupted run changes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from synthloop.curate.base import Context, Doc, Step, StepResult, get_step
from synthloop.curate.docs import load_docs, text_fields
from synthloop.curate.write import Decisions, write_decisions
from synthloop.errors import Problem, ProblemList
from synthloop.runners import Runner, RunnerSpec, get_runner
from synthloop.store.store import Store

__all__ = ["CurateError", "CurateReport", "StepReport", "build_steps", "curate"]

StepSpec = Mapping[str, Any]  # {"step": "dedup", ...options}


class CurateError(ProblemList):
    headline = "invalid curation steps"


@dataclass
class StepReport:
    step: str
    records_in: int
    kept: int
    rejected: dict[str, int]
    redacted: int
    counts: dict[str, int]
    seconds: float


@dataclass
class CurateReport:
    dataset: str
    records_in: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    redacted: int = 0
    steps: list[StepReport] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected"] = dict(sorted(self.rejected.items()))
        return data


class StoreContext(Context):
    def __init__(
        self, store: Store, fields: Sequence[str] | None, runner: Runner | None = None
    ) -> None:
        self.store, self.fields = store, fields
        if runner is not None:
            self.runner = runner

    def docs_of(self, dataset: str) -> list[Doc]:
        other = self.store.dataset(dataset)
        return load_docs(other, None, text_fields(other.settings, self.fields))


def build_steps(specs: Sequence[StepSpec | Step], where: str = "steps") -> list[Step]:
    """Steps from `{"step": name, **options}` mappings, every problem reported at once (named
    `where.INDEX (NAME)`: a recipe's `curate` list, say)."""
    steps: list[Step] = []
    problems: list[Problem] = []
    for i, spec in enumerate(specs):
        if isinstance(spec, Step):
            steps.append(spec)
            continue
        options = dict(spec)
        name = options.pop("step", None)
        at = f"{where}.{i}" + (f" ({name})" if name else "")
        try:
            cls = get_step(str(name))
            steps.append(cls(options))
        except ProblemList as exc:
            problems += [Problem(at, str(p)) for p in exc.problems]
        except Exception as exc:  # pydantic's ValidationError, UnknownStep
            problems.append(Problem(at, _message(exc)))
    if problems:
        raise CurateError(problems)
    return steps


def curate(
    store: Store,
    name: str,
    steps: Sequence[StepSpec | Step],
    *,
    statuses: Sequence[str] | None = ("pending",),
    fields: Sequence[str] | None = None,
    dry_run: bool = False,
    runner: RunnerSpec = None,
) -> CurateReport:
    """Run `steps` over dataset `name`'s records with `statuses`; see the module docstring.
    With `dry_run`, decide and report but write nothing. `runner` (`local`, `ray` or a Runner)
    says where the heavy work runs; the decisions are the same whichever it is."""
    started = time.perf_counter()
    built = build_steps(steps)
    dataset = store.dataset(name)
    names = text_fields(dataset.settings, fields)
    docs = load_docs(dataset, statuses, names)
    report = CurateReport(name, records_in=len(docs), dry_run=dry_run)
    decisions = Decisions()
    context = StoreContext(store, fields, get_runner(runner))
    for step in built:
        docs = _run_step(step, docs, context, decisions, report)
    report.kept = len(docs)
    report.rejected = Counter(r.reason for r in decisions.rejected.values())
    report.redacted = len(decisions.redacted)
    if not dry_run:
        write_decisions(dataset, decisions)
    report.seconds = time.perf_counter() - started
    return report


def _run_step(
    step: Step, docs: list[Doc], context: Context, decisions: Decisions, report: CurateReport
) -> list[Doc]:
    began = time.perf_counter()
    result = _decide(step, docs, context)
    decisions.add(step.name, result)
    kept = []
    for doc in docs:
        if doc.id in result.rejected:
            continue
        changed = result.redacted.get(doc.id)
        kept.append(replace(doc, texts={**doc.texts, **changed}) if changed else doc)
    report.steps.append(
        StepReport(
            step=step.name,
            records_in=len(docs),
            kept=len(kept),
            rejected=dict(Counter(r.reason for r in result.rejected.values())),
            redacted=len(result.redacted),
            counts=dict(result.counts),
            seconds=time.perf_counter() - began,
        )
    )
    return kept


def _decide(step: Step, docs: list[Doc], context: Context) -> StepResult:
    """The step's result over `docs`: a per-doc step on a distributed runner runs over shards
    of them, merged in order."""
    runner = context.runner
    if not (step.per_doc and runner.distributed and len(docs) > 1):
        return step.run(docs, context)
    parts = runner.map(_run_shard, [(step, shard) for shard in runner.split(docs)])
    merged = StepResult()
    for part in parts:
        merged.rejected.update(part.rejected)
        merged.redacted.update(part.redacted)
        merged.notes.update(part.notes)
        merged.counts.update(part.counts)
    return merged


class _ShardContext(Context):
    """A shard's context on a worker: per-doc steps ask nothing of the store."""

    def docs_of(self, dataset: str) -> list[Doc]:
        raise RuntimeError(f"a per-doc step asked for dataset {dataset!r}'s documents")


def _run_shard(job: tuple[Step, Sequence[Doc]]) -> StepResult:
    step, docs = job
    return step.run(docs, _ShardContext())


def _message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in errors()
            )
        except (TypeError, KeyError):
            pass
    return str(exc)
