"""The `route` command: split pending records between humans (under a budget) and automatic
acceptance, or, with --estimate, report the estimated error rate of the automatic part."""

from __future__ import annotations

from typing import Annotated

import typer

from synthloop.cli._common import Db, Json, open_or_fail, out, print_json, user_errors
from synthloop.route import (
    DEFAULT_THRESHOLD,
    STRATEGIES,
    ErrorEstimate,
    RouteReport,
    estimate_error,
)
from synthloop.route import route as route_records


def route(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset name.")],
    budget: Annotated[
        int | None,
        typer.Option(min=0, help="Records humans may annotate this round, audit included."),
    ] = None,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            help=f"How to choose records for humans: {', '.join(STRATEGIES)} (repeatable or a "
            "comma list; several combine). Default: uncertainty."
        ),
    ] = None,
    audit_rate: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Share of would-be automatic acceptances sent to humans."
        ),
    ] = 0.05,
    threshold: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Confidence a suggestion needs to be accepted."),
    ] = DEFAULT_THRESHOLD,
    seed: Annotated[int, typer.Option(help="Seed of the audit sample and of random choices.")] = 0,
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate", help="Only report the error rate estimated from the audit answers."
        ),
    ] = False,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Route a dataset's pending records: queue some for humans, accept confident ones."""
    store = open_or_fail(db, as_json)
    if estimate:
        with user_errors(as_json):
            found = estimate_error(store.dataset(name))
        _show_estimate(name, found, as_json)
        return
    if budget is None:
        raise typer.BadParameter(
            "give how many records humans may annotate, e.g. --budget 100 (or pass --estimate)",
            param_hint="--budget",
        )
    with user_errors(as_json):
        report = route_records(
            store,
            name,
            budget=budget,
            strategy=strategy or "uncertainty",
            audit_rate=audit_rate,
            threshold=threshold,
            seed=seed,
        )
    _show_report(report, as_json)


def _show_report(report: RouteReport, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
        return
    lines = [
        f"routed {report.pending:,} pending records of dataset {report.dataset!r} "
        f"(budget {report.budget:,}, strategy {','.join(report.strategies)}, "
        f"threshold {report.threshold:g})",
        f"  accepted automatically  {report.accepted:,}",
        f"  queued for audit        {report.audit:,} (of {report.auto_eligible:,} "
        f"above the threshold, rate {report.audit_rate:g})",
        f"  queued for humans       {report.human:,}",
        f"  left pending            {report.left_pending:,}",
    ]
    out.print("\n".join(lines), markup=False)


def _show_estimate(name: str, found: ErrorEstimate, as_json: bool) -> None:
    if as_json:
        print_json({"dataset": name, **found.to_dict()})
        return
    if found.rate is None or found.low is None or found.high is None:
        text = (
            f"no audit record of dataset {name!r} is decided yet ({found.waiting:,} waiting); "
            f"{found.unreviewed:,} records were accepted without review"
        )
    else:
        text = (
            f"estimated error rate of the {found.unreviewed:,} records accepted without review "
            f"in dataset {name!r}: {found.rate:.1%} (95% interval {found.low:.1%}-"
            f"{found.high:.1%}; {found.errors:,} of {found.audited:,} audited records differed, "
            f"{found.waiting:,} waiting)"
        )
    out.print(text, markup=False)
