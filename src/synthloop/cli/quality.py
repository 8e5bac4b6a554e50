"""`synthloop quality`: agreement and aggregation on plain crowd files (item,worker,label)."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from synthloop.cli._common import Json, err, new_app, out, print_json, user_errors
from synthloop.errors import SynthloopError
from synthloop.quality.aggregate import aggregate
from synthloop.quality.agreement import (
    fleiss_kappa_answers,
    krippendorff_alpha,
    percent_agreement,
)
from synthloop.quality.answers import Answers
from synthloop.quality.files import AnswerFile, gold_accuracy, read_answers, read_gold

__all__ = ["quality_app"]

quality_app = new_app("Agreement and aggregation on crowd answer files (item,worker,label).")


class LabelMethod(StrEnum):
    majority = "majority"
    dawid_skene = "dawid-skene"
    mace = "mace"


class Level(StrEnum):
    nominal = "nominal"
    ordinal = "ordinal"
    interval = "interval"
    ratio = "ratio"


AnswersFile = Annotated[
    Path, typer.Argument(metavar="ANSWERS.csv", help="CSV with columns item,worker,label.")
]


def _say_notes(loaded: AnswerFile) -> None:
    for note in loaded.notes():
        err.print(f"note: {note}", markup=False)


@quality_app.command("aggregate")
def aggregate_file(
    answers: AnswersFile,
    out_path: Annotated[
        Path, typer.Option("--out", help="Where to write item,label,confidence (CSV).")
    ],
    method: Annotated[LabelMethod, typer.Option(help="Aggregation model.")] = (
        LabelMethod.dawid_skene
    ),
    gold: Annotated[
        Path | None,
        typer.Option(help="CSV item,gold: print accuracy on the gold items that have answers."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for majority vote's tie-break.")] = 0,
    as_json: Json = False,
) -> None:
    """Aggregate crowd labels into one label per item, with a confidence."""
    with user_errors(as_json, data_errors=True):
        loaded = read_answers(answers)
        truth = read_gold(gold) if gold else None
        options = {"seed": seed} if method is LabelMethod.majority else {}
        result = aggregate(loaded.answers, method=method.value, **options)
        _write_labels(out_path, result.to_rows())
    summary: dict[str, Any] = {
        "method": method.value,
        "items": loaded.answers.n_items,
        "workers": loaded.answers.n_workers,
        "answers": len(loaded.answers),
        "skipped_blank": loaded.blank,
        "replaced_duplicates": loaded.answers.dropped,
        "iterations": result.iterations,
        "out": str(out_path),
    }
    if truth is not None:
        summary["gold"] = gold_accuracy(result.label_of(), truth, loaded.answers.values).to_dict()
    _report(summary, loaded, as_json)


def _write_labels(path: Path, rows: list[tuple[Any, Any, float]]) -> None:
    if not path.parent.exists():
        raise SynthloopError(
            f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not "
            "exist; create it first"
        )
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["item", "label", "confidence"])
        writer.writerows((item, label, f"{conf:.6f}") for item, label, conf in rows)


def _report(summary: dict[str, Any], loaded: AnswerFile, as_json: bool) -> None:
    if as_json:
        print_json(summary)
        return
    _say_notes(loaded)
    out.print(
        f"{summary['method']}: {summary['items']:,} items, {summary['workers']:,} workers, "
        f"{summary['answers']:,} answers -> {summary['out']}",
        markup=False,
    )
    gold = summary.get("gold")
    if gold:
        out.print(
            f"accuracy on {gold['items']:,} gold items with answers: "
            f"{gold['accuracy']:.2%} ({gold['correct']:,} correct)",
            markup=False,
        )
        if gold["without_answers"]:
            out.print(
                f"{gold['without_answers']:,} gold items have no answers and are not counted",
                markup=False,
            )
        if gold["unseen_labels"]:
            out.print(
                f"gold labels no worker gave (never predicted): {gold['unseen_labels']}",
                markup=False,
            )


@quality_app.command("agreement")
def agreement_file(
    answers: AnswersFile,
    level: Annotated[
        Level, typer.Option(help="Measurement level of the labels (not nominal: numbers).")
    ] = Level.nominal,
    as_json: Json = False,
) -> None:
    """Krippendorff's alpha, percent agreement and (equal answers per item) Fleiss' kappa."""
    with user_errors(as_json, data_errors=True):
        loaded = read_answers(answers, numeric=level is not Level.nominal)
        data = loaded.answers
        figures = {
            "krippendorff_alpha": _or_none(lambda: krippendorff_alpha(data, level.value)),
            "fleiss_kappa": _fleiss(data),
            "percent_agreement": _or_none(lambda: percent_agreement(data)),
        }
    _say_notes(loaded)
    if as_json:
        print_json(figures)
        return
    out.print(
        f"{data.n_items:,} items, {data.n_workers:,} workers, {len(data):,} answers "
        f"({level.value})",
        markup=False,
    )
    for name, value in figures.items():
        shown = "undefined" if value is None else f"{value:.4f}"
        out.print(f"{name.replace('_', ' ')}: {shown}", markup=False)


def _fleiss(data: Answers) -> float | None:
    """Fleiss' kappa needs the same number of answers on every item; None otherwise."""
    per_item = data.counts().sum(axis=1)
    if per_item.size == 0 or per_item.min() != per_item.max() or per_item.max() < 2:
        return None
    return _or_none(lambda: fleiss_kappa_answers(data))


def _or_none(measure: Callable[[], float]) -> float | None:
    """A measure that is undefined on this data (e.g. no variation) reads as None, not a crash."""
    try:
        value = measure()
    except ValueError as exc:
        err.print(f"note: {exc}", markup=False)
        return None
    return None if math.isnan(value) else value
