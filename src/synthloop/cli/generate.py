"""`synthloop generate RECIPE.yaml`: run a generation recipe into its dataset."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from synthloop.cli._common import (
    Db,
    Json,
    RayAddress,
    RunnerName,
    err,
    open_or_fail,
    out,
    print_json,
    user_errors,
)
from synthloop.generate.pipeline import GenerateReport
from synthloop.generate.pipeline import generate as run_generate
from synthloop.generate.recipe import Recipe
from synthloop.runners import get_runner


def generate(
    recipe_path: Annotated[
        Path, typer.Argument(metavar="RECIPE", help="The recipe (YAML): dataset, task, backend.")
    ],
    max_cost: Annotated[
        float | None,
        typer.Option("--max-cost", help="Stop sending at this cost in USD (needs `prices`)."),
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="Stop sending at this many tokens.")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Render the prompts, estimate tokens and cost; send none."),
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Send the inputs of failed records again.")
    ] = False,
    runner: RunnerName = "local",
    address: RayAddress = None,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Generate records with a recipe; running it again sends only what is missing."""
    store = open_or_fail(db, as_json)
    with user_errors(as_json), _progress(as_json) as tick:
        recipe = Recipe.load(recipe_path)
        report = run_generate(
            store,
            recipe,
            max_cost=max_cost,
            max_tokens=max_tokens,
            dry_run=dry_run,
            retry_failed=retry_failed,
            progress=tick,
            runner=get_runner(runner, address=address),
        )
    if as_json:
        print_json(report.to_dict())
    else:
        _print(report)


def status_line(report: GenerateReport) -> str:
    """The progress bar's text: errors and cost so far."""
    errors = sum(report.failed.values())
    return f"errors {errors:,} · ${report.cost:.4f} · {report.requests_sent:,} requests"


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[GenerateReport], None]]:
    """Rate, ETA, errors and cost on stderr while interactive; nothing in scripts or --json."""
    if quiet or not err.is_terminal:
        yield lambda report: None
        return
    columns = (
        TextColumn("generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[line]}"),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("generate", total=None, rate="", line="")

        def tick(report: GenerateReport) -> None:
            rate = report.done / report.seconds if report.seconds else 0.0
            bar.update(
                task,
                completed=report.done,
                total=report.todo,
                rate=f"{rate:,.0f} rec/s" if rate else "",
                line=status_line(report),
            )

        yield tick


def _print(report: GenerateReport) -> None:
    if report.dry_run:
        out.print(
            f"dry run: {report.todo:,} of {report.units:,} records to generate "
            f"({report.skipped:,} already in {report.dataset!r}); nothing was sent",
            markup=False,
        )
        out.print(
            f"would send requests for up to {report.estimated_tokens:,} tokens, "
            f"${report.estimated_cost:.4f} at most; {report.cache_hits:,} answers are cached",
            markup=False,
        )
        for i, messages in enumerate(report.samples, 1):
            out.print(f"--- prompt {i}", markup=False)
            for m in messages:
                out.print(f"[{m['role']}] {m['content']}", markup=False)
        return
    table = Table(title=f"generate {report.task} → {report.dataset}", title_justify="left")
    table.add_column("")
    table.add_column("count", justify="right")
    rows = [
        ("records ok (pending)", f"{report.ok:,}"),
        *((f"failed: {reason}", f"{n:,}") for reason, n in sorted(report.failed.items())),
        ("already in the dataset", f"{report.skipped:,}"),
        ("requests sent", f"{report.requests_sent:,}"),
        ("retries", f"{report.retries:,}"),
        ("re-asks (invalid output)", f"{report.reasks:,}"),
        ("cache hits", f"{report.cache_hits:,}"),
        ("tokens", f"{report.tokens:,}"),
        ("cost (USD)", f"{report.cost:.4f}"),
        ("seconds", f"{report.seconds:.1f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    out.print(f"backend {report.backend}, model {report.model}", markup=False)
    if report.curation is not None:
        cur = report.curation
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(cur.rejected.items())) or "none"
        out.print(
            f"curated: {cur.records_in:,} in, {cur.kept:,} kept, rejected by reason: {reasons}",
            markup=False,
        )
