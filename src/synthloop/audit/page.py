"""The audit report as one static HTML page: a Jinja2 template with autoescape on (every text
is untrusted) and the charts drawn by `audit.svg`."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from markupsafe import Markup

from synthloop.audit import svg
from synthloop.audit.values import DIMENSIONS

if TYPE_CHECKING:
    from synthloop.audit.report import AuditReport

__all__ = ["SECTIONS", "render_html"]

# (id, heading) of each section, in page order.
SECTIONS = (
    ("overview", "Overview"),
    ("distributions", "Label and rating distributions"),
    ("lengths", "Length distributions"),
    ("curation", "Duplicates and PII"),
    ("corrections", "Human corrections of synthetic records"),
    ("judge", "LLM judge against humans"),
    ("annotators", "Annotator leniency and position bias"),
    ("balance", "Counterfactual balance of demographic terms"),
)


def render_html(report: AuditReport) -> str:
    """The page for `report`."""
    return (
        _environment()
        .get_template("report.html")
        .render(
            report=report,
            sections=SECTIONS,
            dimensions=DIMENSIONS,
            charts=_charts(report),
            pct=_pct,
            num=_num,
        )
    )


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _charts(report: AuditReport) -> dict[str, Markup]:
    """Every chart, keyed as the template asks for it."""
    charts: dict[str, Markup] = {}
    for d in report.distributions:
        for dimension, groups in d.by.items():
            title = f"{d.question} by {dimension}"
            charts[f"dist:{d.question}:{dimension}"] = svg.stacked_bars(
                list(groups.items()), d.values, title
            )
    for length in report.lengths:
        series = {source: stats.bins for source, stats in length.by_source.items()}
        title = f"characters of {length.field} by source"
        charts[f"len:{length.field}"] = svg.histogram(length.edges, series, title)
    for q in report.balance:
        rows = [("all records", q.counts)] + [(g.group, g.counts) for g in q.groups]
        title = f"{q.question} by group"
        charts[f"balance:{q.question}"] = svg.stacked_bars(rows, q.labels, title)
    return charts | _bar_charts(report)


def _bar_charts(report: AuditReport) -> dict[str, Markup]:
    charts: dict[str, Markup] = {}
    rates = [(key, rate) for key, rate in report.curation.rates.items() if rate is not None]
    if rates:
        charts["curation"] = svg.bars(rates, "share of records", share=True)
    if report.corrections:
        rows = [(f"{c.task} / {c.model}", c.rate) for c in report.corrections]
        charts["corrections"] = svg.bars(rows, "correction rate by task and model", share=True)
    if report.leniency:
        rows = [(f"{r.annotator} ({r.question})", r.difference) for r in report.leniency]
        charts["leniency"] = svg.bars(rows, "mean rating minus the overall mean")
    return charts


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
