"""`synthloop agreement|aggregate|annotators NAME`: quality on a stored dataset."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from synthloop.cli._common import Db, Json, open_or_fail, out, print_json, user_errors
from synthloop.cli.quality import LabelMethod
from synthloop.quality.dataset import annotator_report, dataset_agreement, decide

__all__ = ["aggregate", "agreement", "annotators"]

Name = Annotated[str, typer.Argument(metavar="NAME", help="Dataset to measure.")]


def agreement(
    name: Name,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the interval.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Krippendorff's alpha (95% bootstrap interval) and percent agreement per question."""
    with open_or_fail(db, as_json) as store, user_errors(as_json, data_errors=True):
        found = dataset_agreement(store.dataset(name), n_boot=n_boot, seed=seed)
    if as_json:
        print_json({q: a.to_dict() for q, a in found.items()})
        return
    table = Table(title=f"{name}: agreement", title_justify="left")
    for column in ("question", "level", "alpha", "95% interval", "% agree", "items", "answers"):
        table.add_column(column)
    for a in found.values():
        if a.alpha is None:
            table.add_row(
                a.question, a.level or "-", a.reason, "", "", str(a.items), str(a.answers)
            )
            continue
        interval = f"{a.alpha.low:.3f} .. {a.alpha.high:.3f}"
        percent = f"{a.percent:.1%}" if a.percent is not None else "-"
        cells = (a.question, a.level or "-", f"{a.alpha.value:.3f}", interval, percent)
        table.add_row(*cells, str(a.items), str(a.answers))
    out.print(table)


def aggregate(
    name: Name,
    method: Annotated[LabelMethod, typer.Option(help="Aggregation model for labels.")] = (
        LabelMethod.dawid_skene
    ),
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Confidence needed to accept a record. Default: the dataset's "
            "distribution.agreement_threshold, else 0.5."
        ),
    ] = None,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Decide records with enough answers: accepted with final values, or disputed with a reason.

    A reviewer's submitted answer is final. Records below the overlap are left as they are.
    """
    with open_or_fail(db, as_json) as store, user_errors(as_json, data_errors=True):
        report = decide(store.dataset(name), method=method.value, threshold=threshold)
    if as_json:
        print_json(report.to_dict())
        return
    out.print(f"{name}: threshold {report.threshold:g}", markup=False)
    out.print(_pairs("outcome", "records", report.counts))
    out.print(_pairs("question", "method", report.methods))


def annotators(name: Name, db: Db = None, as_json: Json = False) -> None:
    """Per annotator: answers, gold accuracy, reliability, agreement, speed, leniency, bias."""
    with open_or_fail(db, as_json) as store, user_errors(as_json, data_errors=True):
        rows = annotator_report(store.dataset(name))
    if as_json:
        print_json([row.to_dict() for row in rows])
        return
    columns = ("user", "role", "answers", "gold acc.", "reliability", "agree", "median s",
               "leniency", "pos. bias")  # fmt: skip
    table = Table(title=f"{name}: annotators", title_justify="left")
    for column in columns:
        table.add_column(column)
    for r in rows:
        figures = (r.gold_accuracy, r.reliability, r.consensus_agreement, r.median_seconds,
                   r.leniency, r.position_bias)  # fmt: skip
        table.add_row(r.user, r.role, str(r.answers), *map(_number, figures))
    out.print(table)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pairs(key: str, value: str, items: dict[str, Any]) -> Table:
    table = Table()
    table.add_column(key)
    table.add_column(value)
    for k, v in items.items():
        table.add_row(k, str(v))
    return table
