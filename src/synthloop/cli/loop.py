"""`synthloop loop RECIPE.yaml`: rounds of generate, curate, route, annotate, aggregate, version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from synthloop.cli._common import (
    Db,
    Json,
    RayAddress,
    RunnerName,
    open_or_fail,
    out,
    print_json,
    user_errors,
)
from synthloop.errors import SynthloopError
from synthloop.generate.recipe import Recipe
from synthloop.loop import Annotators, LoopReport, run_loop, wait_for_humans
from synthloop.runners import get_runner


def loop(
    recipe_path: Annotated[Path, typer.Argument(metavar="RECIPE", help="The generation recipe.")],
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="How many rounds.")] = 1,
    budget: Annotated[
        int, typer.Option("--budget-per-round", min=0, help="Records sent to humans a round.")
    ] = 100,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy", help="uncertainty, disagreement, diversity or random (comma list)."
        ),
    ] = "uncertainty",
    audit_rate: Annotated[
        float, typer.Option("--audit-rate", help="Share of would-be auto-accepts audited.")
    ] = 0.05,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Suggestion confidence to auto-accept.")
    ] = None,
    simulate_from: Annotated[
        Path | None,
        typer.Option("--simulate-from", help="Replay recorded answers (CSV item,worker,label)."),
    ] = None,
    simulate_gold: Annotated[
        Path | None,
        typer.Option("--simulate-gold", help="Answer from gold labels (CSV item,label)."),
    ] = None,
    simulate_noise: Annotated[
        float, typer.Option("--simulate-noise", help="With --simulate-gold: share answered wrong.")
    ] = 0.0,
    wait_timeout: Annotated[
        float | None,
        typer.Option("--wait-timeout", help="Without simulation: give up waiting after seconds."),
    ] = None,
    slice_field: Annotated[
        str | None,
        typer.Option(
            "--slice-field",
            help="Source field whose values are slices: the most corrected get more generation.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds routing and simulation.")] = 0,
    runner: RunnerName = "local",
    address: RayAddress = None,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Run the hybrid loop; people annotate through `synthloop serve` unless simulated."""
    store = open_or_fail(db, as_json)
    with user_errors(as_json):
        recipe = Recipe.load(recipe_path)
        annotators = _annotators(simulate_from, simulate_gold, simulate_noise, wait_timeout, seed)
        report = run_loop(
            store,
            recipe,
            rounds=rounds,
            budget_per_round=budget,
            annotators=annotators,
            strategy=[s.strip() for s in strategy.split(",") if s.strip()],
            audit_rate=audit_rate,
            threshold=threshold,
            slice_field=slice_field,
            log=None if as_json else (lambda line: out.print(line, markup=False)),
            seed=seed,
            runner=get_runner(runner, address=address),
        )
    if as_json:
        print_json(report.to_dict())
    else:
        _print(report)


def _annotators(
    answers: Path | None, gold: Path | None, noise: float, timeout: float | None, seed: int
) -> Annotators:
    from synthloop.simulate import SimulatedAnnotators

    if answers is not None and gold is not None:
        raise SynthloopError("give --simulate-from or --simulate-gold, not both")
    if answers is not None:
        return SimulatedAnnotators.from_answers(answers)
    if gold is not None:
        return SimulatedAnnotators.from_gold(gold, noise=noise, seed=seed)
    return wait_for_humans(timeout=timeout, log=lambda line: out.print(line, markup=False))


def _print(report: LoopReport) -> None:
    table = Table(title=f"loop over {report.dataset}", title_justify="left")
    for column in (
        "round",
        "generated",
        "to humans",
        "auto",
        "audit",
        "annotated",
        "accepted",
        "disputed",
        "version",
        "error rate (95% CI)",
    ):
        table.add_column(column, justify="right")
    for r in report.rounds:
        err = r.error_rate
        rate = (
            f"{err['rate']:.3f} ({err['low']:.3f}-{err['high']:.3f})"
            if err.get("rate") is not None
            else "not measured"
        )
        table.add_row(
            str(r.round),
            f"{r.generated:,}",
            str(r.routed.get("queued", 0)),
            str(r.routed.get("accepted", 0)),
            str(r.routed.get("audit", 0)),
            f"{r.annotated:,}",
            str(r.decided.get("accepted", 0)),
            str(r.decided.get("disputed", 0)),
            str(r.version),
            rate,
        )
    out.print(table)
