"""The hybrid loop: generate, curate, route, annotate, aggregate, version, round after round.

Each round runs the recipe (generation, then its `curate` steps) as round k, routes the pending
records under the round's budget (humans for what they add most to, the rest auto-accepted
where a suggestion is confident enough, plus a random audit), waits for the round's queue to be
annotated (by people through the server, or by simulated annotators), decides the answered
records, and freezes the accepted ones into a version tagged `round-k`.

What round k learned feeds round k+1: outputs humans accepted or wrote (corrections) become
positive few-shot examples, those they corrected away or curation rejected become negative ones
(`tasks.base.Feedback`), and the slices humans corrected most get more generation: each source
item of a slice with corrections is asked again for up to `max_boost` variations in the next
round, in proportion to the slice's correction rate. A slice is a source field's value
(`slice_field`, e.g. an intent or a risk category), or each source item on its own.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from synthloop.generate.pipeline import generate
from synthloop.generate.recipe import Recipe
from synthloop.generate.sources import load_items
from synthloop.generate.tasks.base import Feedback
from synthloop.quality.dataset import decide
from synthloop.records import Record
from synthloop.runners import RunnerSpec
from synthloop.settings import TextQuestion
from synthloop.store.dataset import Dataset
from synthloop.store.store import Store

__all__ = [
    "Annotators",
    "LoopReport",
    "RoundReport",
    "feedback_from",
    "run_loop",
    "wait_for_humans",
]

_EXAMPLES = 5  # few-shot examples of each kind carried into the next round


class Annotators(Protocol):
    """Who answers a round's queue: simulated annotators, or a wait for people."""

    def annotate(self, store: Store, name: str) -> Any: ...


@dataclass
class RoundReport:
    round: int
    generated: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    curated_out: dict[str, int] = field(default_factory=dict)
    routed: dict[str, Any] = field(default_factory=dict)
    annotated: int = 0
    decided: dict[str, int] = field(default_factory=dict)
    version: int | None = None
    version_hash: str | None = None
    error_rate: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, int] = field(default_factory=dict)
    corrections: dict[str, float] = field(default_factory=dict)  # correction rate by slice
    boosted: int = 0  # extra variations asked for in the next round
    seconds: float = 0.0


@dataclass
class LoopReport:
    dataset: str
    rounds: list[RoundReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_loop(
    store: Store,
    recipe: Recipe,
    *,
    rounds: int,
    budget_per_round: int,
    annotators: Annotators,
    strategy: str | Sequence[str] = "uncertainty",
    audit_rate: float = 0.05,
    threshold: float | None = None,
    method: str = "dawid-skene",
    suggest: Callable[[Store, str], object] | None = None,
    slice_field: str | None = None,
    max_boost: int = 2,
    log: Callable[[str], object] | None = None,
    seed: int = 0,
    runner: RunnerSpec = None,
) -> LoopReport:
    """Run `rounds` rounds of the loop; see the module docstring. `suggest` (store, dataset) puts
    machine suggestions on the new records before routing (a pre-label classifier, say).
    `runner` is where each round's generation and curation run (`local`, `ray`, a Runner)."""
    from synthloop.export.versions import create_version
    from synthloop.route import estimate_error, route

    say = log or (lambda _line: None)
    report = LoopReport(recipe.dataset)
    feedback: Feedback | None = None
    boost: dict[str, int] = {}
    for number in range(1, rounds + 1):
        began = time.perf_counter()
        row = RoundReport(number)
        made = generate(store, recipe.for_round(number, feedback, boost), runner=runner)
        row.generated, row.failed = made.ok, dict(made.failed)
        if made.curation is not None:
            row.curated_out = dict(made.curation.rejected)
        say(f"round {number}: generated {made.ok:,} ({sum(made.failed.values()):,} failed)")
        if suggest is not None:
            suggest(store, recipe.dataset)
        routed = route(
            store,
            recipe.dataset,
            budget=budget_per_round,
            strategy=strategy,
            audit_rate=audit_rate,
            threshold=threshold,
            seed=seed + number,
        )
        row.routed = routed.to_dict()
        say(f"round {number}: routed {row.routed}")
        done = annotators.annotate(store, recipe.dataset)
        row.annotated = int(getattr(done, "submitted", 0) or 0)
        dataset = store.dataset(recipe.dataset)
        row.decided = dict(decide(dataset, method).counts)
        if dataset.count(status="accepted"):
            version = create_version(store, recipe.dataset, tag=f"round-{number}", round=number)
            row.version, row.version_hash = version.number, version.content_hash
        row.error_rate = asdict(estimate_error(dataset))
        feedback = feedback_from(dataset, number)
        row.examples = {"positive": len(feedback.positive), "negative": len(feedback.negative)}
        slices = _slices(store, recipe, slice_field)
        rates = correction_rates(dataset, number, slices)
        boost = boost_from(rates, slices, max_boost)
        row.corrections = {k: round(v, 3) for k, v in sorted(rates.items())}
        row.boosted = sum(boost.values())
        row.seconds = time.perf_counter() - began
        frozen = row.version or "none (nothing accepted)"
        say(f"round {number}: decided {row.decided}; version {frozen}")
        report.rounds.append(row)
    return report


def feedback_from(dataset: Dataset, round: int) -> Feedback:
    """Few-shot examples from round `round`'s synthetic records: corrections and accepted
    outputs as positive examples, corrected-away and curation-rejected outputs as negative."""
    corrections = [q for q in dataset.settings.questions if isinstance(q, TextQuestion)]
    positive: list[str] = []
    negative: list[str] = []
    for record in dataset.records(status=("accepted", "rejected"), source="synthetic"):
        if record.provenance.get("round") != round:
            continue
        corrected = _corrections(record, corrections)
        if record.status == "rejected":
            negative += [_shown(record)]
        elif corrected:
            negative += [before for before, _ in corrected]
            positive += [after for _, after in corrected]
        else:
            positive.append(_shown(record))
    return Feedback(tuple(positive[:_EXAMPLES]), tuple(negative[:_EXAMPLES]))


def _slices(store: Store, recipe: Recipe, slice_field: str | None) -> dict[str, str]:
    """Source item id -> its slice: the value of `slice_field`, or the item itself."""
    items = load_items(recipe, store)
    if slice_field is None:
        return {item.id: item.id for item in items}
    return {item.id: str(item.fields.get(slice_field, "")) for item in items}


def correction_rates(dataset: Dataset, round: int, slices: dict[str, str]) -> dict[str, float]:
    """By slice, the share of round `round`'s human-reviewed synthetic records that humans
    corrected: a text correction, or a final value unlike the machine's suggestion."""
    corrections = [q for q in dataset.settings.questions if isinstance(q, TextQuestion)]
    reviewed: Counter[str] = Counter()
    corrected: Counter[str] = Counter()
    for record in dataset.records(status=("accepted", "disputed"), source="synthetic"):
        parent = record.provenance.get("parent")
        if record.provenance.get("round") != round or parent not in slices:
            continue
        if not any(r.status == "submitted" for r in record.responses):
            continue  # auto-accepted: no human looked
        where = slices[parent]
        reviewed[where] += 1
        final = record.final or {}
        overruled = any(q in final and final[q] != s.value for q, s in record.suggestions.items())
        if overruled or _corrections(record, corrections):
            corrected[where] += 1
    return {where: corrected[where] / n for where, n in reviewed.items()}


def boost_from(rates: dict[str, float], slices: dict[str, str], most: int) -> dict[str, int]:
    """Extra variations per source item: up to `most` for the most corrected slice, in
    proportion to each slice's correction rate; none for slices nobody corrected."""
    top = max(rates.values(), default=0.0)
    if top <= 0:
        return {}
    per_slice = {where: math.ceil(most * rate / top) for where, rate in rates.items() if rate > 0}
    return {item: per_slice[where] for item, where in slices.items() if where in per_slice}


def _corrections(record: Record, questions: list[TextQuestion]) -> list[tuple[str, str]]:
    """(original, correction) for each text question whose final differs from its prefill."""
    final = record.final or {}
    pairs = []
    for q in questions:
        if q.prefill is None or q.name not in final:
            continue
        before, after = record.fields.get(q.prefill), final[q.name]
        if isinstance(before, str) and isinstance(after, str) and after.strip() != before.strip():
            pairs.append((before, after))
    return pairs


def _shown(record: Record) -> str:
    texts = [v for v in record.fields.values() if isinstance(v, str)]
    return " / ".join(texts)[:300]


@dataclass
class _Waited:
    seconds: float
    submitted: int = 0  # people submit through the server; decide() counts what they did


def wait_for_humans(
    poll: float = 5.0, timeout: float | None = None, log: Callable[[str], object] | None = None
) -> Annotators:
    """Annotators that are people: wait until the dataset has no queued record left."""

    class _People:
        def annotate(self, store: Store, name: str) -> _Waited:
            dataset = store.dataset(name)
            began = time.monotonic()
            while True:
                left = dataset.count(status="queued")
                if not left:
                    return _Waited(seconds=time.monotonic() - began)
                if timeout is not None and time.monotonic() - began > timeout:
                    raise TimeoutError(f"{left} records of {name!r} still queued after {timeout} s")
                if log is not None:
                    log(f"waiting for annotators: {left:,} records queued")
                time.sleep(poll)

    return _People()
