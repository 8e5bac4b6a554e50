"""The dataset card (README.md) written with every training export.

Whoever trains on an export should see where it came from without opening the store: which
version (and its hash), how many records of each provenance (synthetic, corrected by a human,
human, imported), how far annotators agreed, who annotated, how wrong the part nobody reviewed
is estimated to be, and under which licence it may be used. The YAML header follows the
Hugging Face Hub's card metadata, so the folder can be pushed as is.
"""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthloop.export.versions import SOURCE_KINDS, Version
from synthloop.records import Record
from synthloop.settings import Settings
from synthloop.store.store import Store

if TYPE_CHECKING:
    from synthloop.export.training import ExportReport

__all__ = ["error_estimate_line", "render_card", "write_card"]

_TASKS = {
    "sft": "text-generation",
    "dpo": "text-generation",
    "kto": "text-generation",
    "reward": "text-classification",
    "classification": "text-classification",
}


def write_card(
    store: Store,
    name: str,
    version: Version,
    records: list[Record],
    settings: Settings,
    report: ExportReport,
    licence: str,
    folder: Path,
) -> None:
    """Measure what the card reports on the live dataset and write README.md into `folder`."""
    dataset = store.dataset(name)
    text = render_card(
        version=version,
        report=report,
        licence=licence,
        agreement=_agreement(dataset),
        annotators=_annotators(records),
        error_line=error_estimate_line(dataset),
        guidelines=settings.guidelines,
    )
    (folder / "README.md").write_text(text, encoding="utf-8")


def render_card(
    *,
    version: Version,
    report: ExportReport,
    licence: str,
    agreement: list[tuple[str, str]],
    annotators: list[tuple[str, int]],
    error_line: str,
    guidelines: str,
) -> str:
    """The card's Markdown (with a YAML header) from what was measured."""
    tag = f" ({version.tag})" if version.tag else ""
    lines = [
        *_header(report, licence),
        f"# {report.name}: {report.format} export of version {version.number}{tag}",
        "",
        f"- version: {version.number}{tag}, content sha256 `{version.content_hash}`",
        f"- round: {version.round}; aggregation: {version.aggregation}",
        f"- guidelines sha256: `{version.guidelines_hash}`",
        f"- format: {report.format} ({report.file_format}); licence: {licence}",
        "",
        "## Counts",
        "",
        "| split | rows |",
        "| --- | ---: |",
        *(f"| {split} | {n} |" for split, n in report.rows.items()),
        "",
        f"{report.records} of the version's {version.record_count} records gave rows.",
        *_skipped(report.skipped),
        "",
        "## Provenance",
        "",
        "| source | records |",
        "| --- | ---: |",
        *(f"| {kind} | {version.counts_by_source.get(kind, 0)} |" for kind in SOURCE_KINDS),
        "",
        "`human_corrected`: generated records whose final text a human edited.",
        "",
        "## Agreement",
        "",
        "Krippendorff's alpha per question over the dataset's answers when it was exported.",
        "",
        *_table(("question", "agreement"), agreement, "no questions"),
        "",
        "## Annotators",
        "",
        *_table(("annotator", "responses in this version"), annotators, "no human responses"),
        "",
        "## Estimated error rate of the unreviewed part",
        "",
        error_line,
        "",
        "## Guidelines",
        "",
        guidelines.strip() or "(none)",
        "",
    ]
    return "\n".join(lines)


def _header(report: ExportReport, licence: str) -> list[str]:
    suffix = {"jsonl": "jsonl", "parquet": "parquet"}.get(report.file_format)
    lines = ["---", f"license: {licence}", "task_categories:", f"- {_TASKS[report.format]}"]
    lines += ["tags:", "- synthloop", f"- {report.format}"]
    if suffix:
        lines += ["configs:", "- config_name: default", "  data_files:"]
        for split, rows in report.rows.items():
            if rows:
                lines += [f"  - split: {split}", f"    path: {split}.{suffix}"]
    return [*lines, "---", ""]


def _skipped(skipped: dict[str, int]) -> list[str]:
    if not skipped:
        return []
    return ["", "Records without rows, by reason:", ""] + [
        f"- {why}: {n}" for why, n in skipped.items()
    ]


def _table(head: tuple[str, str], rows: list[tuple[str, Any]], empty: str) -> list[str]:
    if not rows:
        return [f"({empty})"]
    return [f"| {head[0]} | {head[1]} |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in rows]


def _agreement(dataset: Any) -> list[tuple[str, str]]:
    from synthloop.quality.dataset import dataset_agreement

    try:
        found = dataset_agreement(dataset, n_boot=100)
    except ValueError as exc:
        return [("(all)", f"not measured: {exc}")]
    rows = []
    for a in found.values():
        if a.alpha is None:
            rows.append((a.question, f"not measured: {a.reason}"))
            continue
        percent = f", {a.percent:.1%} agree" if a.percent is not None else ""
        interval = f"95% interval {a.alpha.low:.3f} .. {a.alpha.high:.3f}"
        rows.append((a.question, f"alpha {a.alpha.value:.3f} ({interval}){percent}"))
    return rows


def _annotators(records: list[Record]) -> list[tuple[str, int]]:
    counts = Counter(
        r.user for record in records for r in record.responses if r.status == "submitted"
    )
    return sorted(counts.items())


def error_estimate_line(dataset: Any) -> str:
    """The audit's estimate of the error rate among records accepted without review, from
    `synthloop.route.estimate_error` when routing is installed; "not measured" otherwise."""
    try:
        estimate_error = importlib.import_module("synthloop.route").estimate_error
    except (ImportError, AttributeError):
        return "not measured (routing is not available)"
    found = estimate_error(dataset)
    if found.rate is None:
        return (
            f"not measured: no audited records yet ({found.unreviewed} records were accepted "
            "without review)"
        )
    return (
        f"{found.rate:.1%} (95% interval {found.low:.1%} .. {found.high:.1%}), from "
        f"{found.errors} errors in {found.audited} audited records; "
        f"{found.unreviewed} records were accepted without review"
    )
