"""`synthloop audit NAME --out report.html`: the audit report as one static page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from synthloop.audit import AuditReport
from synthloop.audit import audit as run_audit
from synthloop.cli._common import Db, Json, open_or_fail, out, print_json, user_errors
from synthloop.errors import SynthloopError

__all__ = ["audit"]


def audit(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset to audit.")],
    out_path: Annotated[
        Path, typer.Option("--out", help="The HTML file to write (one file, no requests).")
    ],
    terms: Annotated[
        Path | None,
        typer.Option(
            "--terms",
            help="A YAML mapping of demographic group to its words for the balance section "
            "(default: gendered words).",
        ),
    ] = None,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Write a static report: distributions by source, model, language and round; lengths;
    duplicates and PII; human corrections; judge against humans; annotators; term balance."""
    with open_or_fail(db, as_json) as store, user_errors(as_json):
        groups = _terms(terms) if terms else None
        report = run_audit(store, name, out_path, terms=groups)
    if as_json:
        print_json(report.to_dict())
    else:
        _print(report)


def _terms(path: Path) -> Mapping[str, Sequence[str]]:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SynthloopError(f"--terms {str(path)!r}: cannot read it: {exc}") from None
    if not isinstance(data, dict):
        raise SynthloopError(
            f"--terms {str(path)!r} must be a YAML mapping of group to words, "
            "e.g. {female: [she, her, woman], male: [he, him, man]}"
        )
    return data


def _print(report: AuditReport) -> None:
    flagged = [f"{q.question}/{g.group}" for q in report.balance for g in q.groups if g.flagged]
    worst = report.corrections[0] if report.corrections else None
    counts = report.curation.counts
    duplicates = counts["duplicate"] + counts["near_duplicate"]
    pii = counts["pii_rejected"] + counts["pii_flagged"]
    lines = [
        f"{report.dataset}: audited {report.records:,} records; wrote {report.out}",
        f"duplicates {duplicates:,}, PII {pii:,} of {report.curation.records:,} records",
    ]
    if worst:
        lines.append(
            f"most corrected: {worst.task} / {worst.model} ({worst.corrected} of {worst.reviewed})"
        )
    if flagged:
        lines.append(f"label balance differs for: {', '.join(flagged)}")
    for line in lines:
        out.print(line, markup=False)
