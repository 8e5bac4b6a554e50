"""`synthloop curate NAME`: throw out broken and repeated records, each with its reason."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
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
from synthloop.curate.run import CurateError, CurateReport
from synthloop.curate.run import curate as run_curate
from synthloop.errors import Problem
from synthloop.runners import get_runner


def curate(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset to curate.")],
    dedup: Annotated[
        str | None,
        typer.Option("--dedup", help="exact, near or semantic (needs --model): drop duplicates."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="--dedup semantic: a local ONNX sentence-embedding folder."),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Near-duplicate Jaccard threshold (0.8).")
    ] = None,
    keep: Annotated[
        str | None,
        typer.Option("--keep", help="Which duplicate survives: first, highest_score, human_first."),
    ] = None,
    against: Annotated[
        list[str] | None,
        typer.Option("--against", help="Also drop duplicates of this dataset's records."),
    ] = None,
    pii: Annotated[
        str | None, typer.Option("--pii", help="flag, redact or reject records holding PII.")
    ] = None,
    language: Annotated[
        str | None, typer.Option("--language", help="Allowed languages, e.g. en,de.")
    ] = None,
    rules: Annotated[
        str | None,
        typer.Option("--rules", help="'default', or a YAML file of quality rule options."),
    ] = None,
    decontaminate: Annotated[
        list[Path] | None,
        typer.Option("--decontaminate", help="An evaluation set to keep out (repeatable)."),
    ] = None,
    steps_file: Annotated[
        Path | None,
        typer.Option("--steps", help="A YAML list of steps ({step: NAME, ...options})."),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="Curate records with this status (default: pending)."),
    ] = None,
    field: Annotated[
        list[str] | None, typer.Option("--field", help="Judge only this text field (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and report; change nothing.")
    ] = False,
    runner: RunnerName = "local",
    address: RayAddress = None,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Run curation steps in this order: rules, language, PII, decontamination, dedup."""
    store = open_or_fail(db, as_json)
    with user_errors(as_json):
        steps = _steps_from_file(steps_file) if steps_file else []
        if rules:
            steps.append({"step": "rules", **_rules(rules)})
        if language:
            allow = [code.strip() for code in language.split(",") if code.strip()]
            steps.append({"step": "language", "allow": allow})
        if pii:
            steps.append({"step": "pii", "mode": pii})
        if decontaminate:
            steps.append({"step": "decontaminate", "files": [str(p) for p in decontaminate]})
        if dedup or threshold is not None or keep or against:
            steps.append(_dedup(dedup, threshold, keep, against, model))
        if not steps:
            raise CurateError(
                [
                    Problem(
                        "",
                        "no step asked for; give --dedup, --pii, --language, --rules, "
                        "--decontaminate or --steps FILE",
                    )
                ]
            )
        report = run_curate(
            store,
            name,
            steps,
            statuses=status or ["pending"],
            fields=field,
            dry_run=dry_run,
            runner=get_runner(runner, address=address),
        )
    if as_json:
        print_json(report.to_dict())
    else:
        _print(report)


def _dedup(
    mode: str | None,
    threshold: float | None,
    keep: str | None,
    against: list[str] | None,
    model: Path | None,
) -> dict[str, Any]:
    if mode == "semantic":
        step: dict[str, Any] = {"step": "semantic_dedup"}
        if model is not None:  # without it the step reports the missing option
            step["model"] = str(model)
    else:
        step = {"step": "dedup", "mode": mode or "near"}
    if threshold is not None:
        step["threshold"] = threshold
    if keep:
        step["keep"] = keep
    if against:
        step["against"] = against
    return step


def _rules(value: str) -> dict[str, Any]:
    if value == "default":
        return {}
    return _yaml_mapping(Path(value), "--rules")


def _steps_from_file(path: Path) -> list[dict[str, Any]]:
    data = _load_yaml(path, "--steps")
    if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
        raise CurateError([Problem(str(path), "must be a YAML list of {step: NAME, ...} items")])
    return [dict(s) for s in data]


def _yaml_mapping(path: Path, option: str) -> dict[str, Any]:
    data = _load_yaml(path, option)
    if not isinstance(data, dict):
        raise CurateError([Problem(str(path), f"{option} needs a YAML mapping of options")])
    return data


def _load_yaml(path: Path, option: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CurateError([Problem(str(path), f"{option}: cannot read it: {exc}")]) from None


def _print(report: CurateReport) -> None:
    verb = "would keep" if report.dry_run else "kept"
    rejected = sum(report.rejected.values())
    out.print(
        f"{report.dataset}: {report.records_in:,} records in, {verb} {report.kept:,}, "
        f"rejected {rejected:,}, redacted {report.redacted:,}"
        + (" (dry run: nothing changed)" if report.dry_run else ""),
        markup=False,
    )
    if report.rejected:
        table = Table(title="rejected by reason", title_justify="left")
        table.add_column("reason")
        table.add_column("records", justify="right")
        for reason, count in sorted(report.rejected.items()):
            table.add_row(reason, f"{count:,}")
        out.print(table)
    steps = Table(title="steps", title_justify="left")
    for column in ("step", "in", "kept", "rejected", "redacted", "counts", "seconds"):
        steps.add_column(column, justify="left" if column in ("step", "counts") else "right")
    for s in report.steps:
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(s.counts.items()))
        steps.add_row(
            s.step,
            f"{s.records_in:,}",
            f"{s.kept:,}",
            f"{sum(s.rejected.values()):,}",
            f"{s.redacted:,}",
            counts,
            f"{s.seconds:.2f}",
        )
    out.print(steps)
