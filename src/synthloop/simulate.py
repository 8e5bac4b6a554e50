"""Simulated annotators: recorded or gold answers fed through the real work queue.

Benchmarks and CI need rounds that finish without people. The simulation goes through exactly
the calls the server makes (`lease_next`, then `submit`), as users it creates (`sim-<worker>`)
and makes members of the dataset, so the queue's rules hold as they would for people: no record
is held by more users than its overlap, nobody answers a record twice, and a record is decided
(accepted or disputed) when its last answer comes in.

Two sources of answers:
- `from_answers(csv)`: recorded crowd answers (`item,worker,label`), each replayed at most once,
  by the user standing for its worker, on the record whose external id is the item.
- `from_gold(csv, noise, workers)`: `workers` users who give the gold label (`item,gold`) with
  probability 1 - noise, else a uniformly random other label. Deterministic given the seed.

Answers go to one label question (the dataset's first, unless `question` names another);
`extra(record, worker)` may answer the others (a rating, a correction). A user served a record
they hold no answer for skips it for good (a discarded response, which does not count toward the
overlap), so records nobody can answer do not stall the queue behind them.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthloop.accounts.membership import assign
from synthloop.errors import Problem, ProblemList, SynthloopError
from synthloop.records import Record
from synthloop.server.queue import lease_next, release, submit
from synthloop.settings import LabelQuestion
from synthloop.store.dataset import Dataset
from synthloop.store.store import Store

__all__ = ["PREFIX", "SimReport", "SimulatedAnnotators", "SimulationError"]

PREFIX = "sim-"
# Seconds a simulated answer takes: drawn uniformly, so time-based reports have data to show.
_DURATION = (4.0, 40.0)

Extra = Callable[[Record, str], Mapping[str, Any]]


class SimulationError(ProblemList):
    """Answer files or options that do not fit the dataset; nothing was submitted."""

    headline = "cannot simulate annotators"


@dataclass
class SimReport:
    """What a simulation did: answers submitted, records skipped (served to a user holding no
    answer for them), records it answered, users taking part, answers per worker, and recorded
    answers left unused."""

    submitted: int = 0
    skipped: int = 0
    records: int = 0
    users: list[str] = field(default_factory=list)
    by_worker: dict[str, int] = field(default_factory=dict)
    unused: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "submitted": self.submitted,
            "skipped": self.skipped,
            "records": self.records,
            "users": list(self.users),
            "by_worker": dict(self.by_worker),
            "unused": self.unused,
        }


class SimulatedAnnotators:
    """Users answering queued records from recorded answers or from gold labels."""

    def __init__(
        self,
        answers: Mapping[str, Mapping[str, list[str]]] | None = None,
        *,
        gold: Mapping[str, str] | None = None,
        noise: float = 0.0,
        workers: int = 3,
        seed: int = 0,
        question: str | None = None,
        extra: Extra | None = None,
        source: str = "",
    ) -> None:
        """`answers`: {worker: {item: [labels]}} recorded answers; or `gold`: {item: label}
        answered by `workers` users with `noise`. Prefer from_answers / from_gold."""
        if (answers is None) == (gold is None):
            raise SynthloopError("give recorded answers or gold labels (exactly one of them)")
        if not 0.0 <= noise <= 1.0:
            raise SynthloopError(f"noise {noise} is outside 0..1; give a probability")
        if gold is not None and workers < 1:
            raise SynthloopError(f"workers {workers} must be 1 or more simulated annotators")
        self.answers, self.gold = answers, gold
        self.noise, self.workers, self.seed = noise, workers, seed
        self.question, self.extra, self.source = question, extra, source

    @classmethod
    def from_answers(
        cls,
        path: str | Path,
        *,
        seed: int = 0,
        question: str | None = None,
        extra: Extra | None = None,
    ) -> SimulatedAnnotators:
        """Replay a CSV of recorded answers with columns item, worker, label."""
        answers: dict[str, dict[str, list[str]]] = {}
        for row in _read_csv(Path(path), ("item", "worker", "label")):
            answers.setdefault(row["worker"], {}).setdefault(row["item"], []).append(row["label"])
        return cls(answers, seed=seed, question=question, extra=extra, source=str(path))

    @classmethod
    def from_gold(
        cls,
        path: str | Path,
        noise: float = 0.0,
        workers: int = 3,
        seed: int = 0,
        *,
        question: str | None = None,
        extra: Extra | None = None,
    ) -> SimulatedAnnotators:
        """Answer from a CSV of gold labels (columns item and gold, or item and label)."""
        rows = _read_csv(Path(path), ("item",), one_of=("gold", "label"))
        gold = {r["item"]: r["gold"] if "gold" in r else r["label"] for r in rows}
        return cls.from_gold_labels(gold, noise, workers, seed, question=question, extra=extra)

    @classmethod
    def from_gold_labels(
        cls,
        gold: Mapping[str, str],
        noise: float = 0.0,
        workers: int = 3,
        seed: int = 0,
        *,
        question: str | None = None,
        extra: Extra | None = None,
    ) -> SimulatedAnnotators:
        """Answer from gold labels held in memory, {external id: label}."""
        return cls(
            gold=dict(gold),
            noise=noise,
            workers=workers,
            seed=seed,
            question=question,
            extra=extra,
            source="gold labels",
        )

    @property
    def usernames(self) -> list[str]:
        return [PREFIX + w for w in self._workers()]

    # ------------------------------------------------------------ running

    def annotate(self, store: Store, name: str, *, max_records: int | None = None) -> SimReport:
        """Answer the dataset's queued records through the queue until no simulated user has
        anything left to answer; with `max_records`, only the first that many (in the order the
        queue serves them) that some user can answer."""
        if max_records is not None and max_records < 0:
            raise SynthloopError(f"max_records {max_records} is negative; give 0 or more")
        dataset = store.dataset(name)
        question = self._label_question(dataset)
        pool = self._pool(question)
        users = self._enrol(store, name)
        run = _Run(dataset, question.name, pool, users, self.extra, self.seed)
        run.work(max_records)
        run.report.unused = sum(len(v) for items in pool.values() for v in items.values())
        return run.report

    def _workers(self) -> list[str]:
        if self.answers is not None:
            return sorted(self.answers)
        width = len(str(self.workers))
        return [str(i).zfill(width) for i in range(1, self.workers + 1)]

    def _enrol(self, store: Store, name: str) -> list[str]:
        """Create the simulated users (annotators) and make them members of the dataset, in a
        seeded order: who asks first when several could answer a record."""
        users = self.usernames
        for user in users:
            store.add_user(user)
        assign(store, name, users)
        random.Random(self.seed).shuffle(users)
        return users

    def _label_question(self, dataset: Dataset) -> LabelQuestion:
        labels = [q for q in dataset.settings.questions if type(q) is LabelQuestion]
        names = ", ".join(q.name for q in labels) or "none"
        if self.question is None:
            if not labels:
                raise SynthloopError(
                    f"dataset {dataset.name!r} has no label question for simulated answers "
                    "(label questions: none); add one to its settings"
                )
            return labels[0]
        found = next((q for q in labels if q.name == self.question), None)
        if found is None:
            raise SynthloopError(
                f"question {self.question!r} is not a label question of dataset "
                f"{dataset.name!r} (label questions: {names}); pass one of them as question="
            )
        return found

    def _pool(self, question: LabelQuestion) -> dict[str, dict[str, list[str]]]:
        """{worker: {item: [unused labels]}}, checked against the question's labels."""
        given: Iterable[tuple[str, str]]
        if self.answers is not None:
            pool = {w: {i: list(v) for i, v in items.items()} for w, items in self.answers.items()}
            given = ((i, v) for items in pool.values() for i, vs in items.items() for v in vs)
        else:
            assert self.gold is not None
            pool = {w: self._gold_answers(w, question.labels) for w in self._workers()}
            given = self.gold.items()
        problems = [
            Problem(
                f"{self.source}, item {item!r}",
                f"label {label!r} is not one of {question.labels} (question {question.name!r}); "
                "fix the file or choose another question with question=",
            )
            for item, label in given
            if label not in question.labels
        ]
        if problems:
            raise SimulationError(problems[:20], total=len(problems))
        return pool

    def _gold_answers(self, worker: str, labels: list[str]) -> dict[str, list[str]]:
        assert self.gold is not None
        out: dict[str, list[str]] = {}
        for item, label in self.gold.items():
            rng = random.Random(f"{self.seed}:{worker}:{item}")
            others = [x for x in labels if x != label]
            wrong = others and rng.random() < self.noise
            out[item] = [rng.choice(others) if wrong else label]
        return out


class _Run:
    """One pass over the queue. Records are taken in the order the queue serves them; for each,
    the least busy user holding an answer for it asks for work. The queue decides what they get:
    the record aimed at, or one above it that still has room, which they answer if they can and
    skip for good otherwise. Every step uses up a (user, record) pair or retires a user, so the
    run ends."""

    def __init__(
        self,
        dataset: Dataset,
        question: str,
        pool: dict[str, dict[str, list[str]]],
        users: list[str],
        extra: Extra | None,
        seed: int,
    ) -> None:
        self.dataset, self.question, self.pool, self.extra = dataset, question, pool, extra
        self.order = {user: i for i, user in enumerate(users)}
        self.rng = random.Random(f"{seed}:durations")
        self.report = SimReport(users=list(users), by_worker=dict.fromkeys(users, 0))
        self.done: set[str] = set()  # users retired: nothing left for them
        self.seen: dict[int, set[str]] = {}  # record id -> users who answered or skipped it
        self.answered: set[int] = set()
        self.filled: dict[int, int] = {}  # record id -> submitted responses, as far as we know

    def work(self, max_records: int | None) -> None:
        records = sorted(self.dataset.records(status="queued"), key=_served_order)
        overlap = self.dataset.settings.distribution.overlap
        targets = [r for r in records if self._holders(r)]
        if max_records is not None:
            targets = targets[:max_records]
        allowed = {r.id for r in targets}
        self.filled = {r.id or 0: _submitted(r) for r in records}
        for record in targets:
            assert record.id is not None
            while self.filled[record.id] < overlap:
                holders = self._holders(record)
                if not holders:
                    break
                user = min(holders, key=lambda u: (self.report.by_worker[u], self.order[u]))
                self._step(user, allowed)

    def _holders(self, record: Record) -> list[str]:
        """Users who hold an unused answer for the record and may still be served it."""
        seen = self.seen.setdefault(record.id or 0, _responders(record))
        item = str(record.external_id)
        return [
            PREFIX + worker
            for worker, items in self.pool.items()
            if items.get(item)
            and PREFIX + worker not in seen
            and PREFIX + worker not in self.done
            and PREFIX + worker in self.order
        ]

    def _step(self, user: str, allowed: set[int | None]) -> None:
        """The user asks for work and answers (or skips for good) what they are served."""
        record = lease_next(self.dataset, user)
        if record is None or record.id not in allowed:
            if record is not None:  # beyond max_records, or queued after the run began
                release(self.dataset, record.id or 0, user)
            self.done.add(user)
            return
        assert record.id is not None
        self.seen.setdefault(record.id, set()).add(user)
        label = self._take(user, str(record.external_id))
        if label is None:
            submit(self.dataset, record.id, user, {}, status="discarded")
            self.report.skipped += 1
            return
        values = {**(self.extra(record, user.removeprefix(PREFIX)) if self.extra else {})}
        values[self.question] = label
        submit(self.dataset, record.id, user, values, duration=self._duration())
        self.report.submitted += 1
        self.report.by_worker[user] += 1
        self.filled[record.id] = self.filled.get(record.id, 0) + 1
        if record.id not in self.answered:
            self.answered.add(record.id)
            self.report.records += 1

    def _take(self, user: str, item: str) -> str | None:
        labels = self.pool.get(user.removeprefix(PREFIX), {}).get(item)
        return labels.pop(0) if labels else None

    def _duration(self) -> float:
        return round(self.rng.uniform(*_DURATION), 1)


def _served_order(record: Record) -> tuple[float, int]:
    return (-record.priority, record.id or 0)


def _submitted(record: Record) -> int:
    return sum(1 for r in record.responses if r.status == "submitted")


def _responders(record: Record) -> set[str]:
    """Users the queue will not serve the record again: they submitted or discarded it."""
    return {r.user for r in record.responses if r.status != "draft"}


def _read_csv(
    path: Path, required: Iterable[str], one_of: tuple[str, ...] = ()
) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SynthloopError(f"cannot read {path}: {exc}") from None
    missing = [c for c in required if c not in columns]
    if one_of and not any(c in columns for c in one_of):
        missing.append(" or ".join(one_of))
    if missing:
        raise SynthloopError(
            f"{path}: column {', '.join(missing)} is missing (found: {', '.join(columns) or 'none'}"
            f"); the file needs a header row naming {', '.join([*required, *one_of])}"
        )
    return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in rows]
