"""The dashboard: progress by status, submissions over time, agreement per question and the
annotator report. The counts and the chart refresh from /datasets/{name}/dashboard.json while
the page is open; agreement and the report (they read every record) are computed per page load.

Charts are SVG drawn here, on the server: the page's script only moves bars the JSON places.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from synthloop.errors import SynthloopError
from synthloop.quality.dataset import annotator_report, dataset_agreement
from synthloop.server.auth import StoreDep
from synthloop.server.pages.common import PageSession, page, require_page
from synthloop.server.pages.record_view import dataset_or_404
from synthloop.store.browse import first_submission, submissions_by_time, submitted_count
from synthloop.store.dataset import Dataset

__all__ = ["live_numbers", "router"]

router = APIRouter()

# The order a record moves through, so the progress bar reads left to right.
STATUS_ORDER = ("accepted", "disputed", "annotated", "queued", "pending", "rejected", "failed")
BAR = 1000  # the width of both charts, in SVG user units
CHART_HEIGHT = 160
HOURLY_UNTIL = timedelta(hours=48)  # older first submissions switch the chart to days
WINDOW = {"hour": 24, "day": 30}


@router.get("/datasets/{name}/dashboard")
def dashboard(request: Request, name: str, session: PageSession, store: StoreDep) -> HTMLResponse:
    require_page(session, "dashboard", name, store)
    dataset = dataset_or_404(store, name)
    agreement, agreement_problem = _try(lambda: list(dataset_agreement(dataset).values()))
    annotators, annotators_problem = _try(lambda: annotator_report(dataset))
    return page(
        request,
        "dashboard.html",
        session,
        store,
        dataset=name,
        live=live_numbers(dataset),
        agreement=agreement or [],
        agreement_problem=agreement_problem,
        annotators=annotators or [],
        annotators_problem=annotators_problem,
        chart_height=CHART_HEIGHT,
        bar=BAR,
    )


@router.get("/datasets/{name}/dashboard.json")
def dashboard_json(
    request: Request, name: str, session: PageSession, store: StoreDep
) -> dict[str, Any]:
    """The numbers the open dashboard refreshes (for the page's script; not a public API)."""
    require_page(session, "dashboard", name, store)
    return live_numbers(dataset_or_404(store, name))


def _try(compute: Any) -> tuple[Any, str]:
    """A quality figure, or why it cannot be computed (shown instead of failing the page)."""
    try:
        return compute(), ""
    except (SynthloopError, ValueError) as exc:
        return None, str(exc)


def live_numbers(dataset: Dataset, now: datetime | None = None) -> dict[str, Any]:
    """Counts by status with the progress bar's segments, submitted responses, and the
    submissions chart's bars."""
    counts = dataset.count(by="status")
    return {
        "total": sum(counts.values()),
        "counts": {s: counts.get(s, 0) for s in STATUS_ORDER},
        "segments": _segments(counts),
        "submitted": submitted_count(dataset),
        "throughput": _throughput(dataset, now or datetime.now(UTC)),
    }


def _segments(counts: dict[str, int]) -> list[dict[str, Any]]:
    total = sum(counts.values())
    segments, x = [], 0.0
    for status in STATUS_ORDER:
        n = counts.get(status, 0)
        width = BAR * n / total if total else 0.0
        share = 100 * n / total if total else 0.0
        segments.append(
            {
                "status": status,
                "count": n,
                "x": round(x, 2),
                "width": round(width, 2),
                "share": share,
            }
        )
        x += width
    return segments


def _throughput(dataset: Dataset, now: datetime) -> dict[str, Any]:
    """Submitted responses per hour over the last day, or per day over the last 30 when the
    first submission is older than two days; one bar per bucket, empty ones too."""
    first = first_submission(dataset)
    unit = "hour" if first is None or now - first <= HOURLY_UNTIL else "day"
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    end = now.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        end = end.replace(hour=0)
    starts = [end - step * i for i in reversed(range(WINDOW[unit]))]
    found = submissions_by_time(dataset, unit, since=starts[0])
    values = [found.get(start, 0) for start in starts]
    top = max(values, default=0)
    slot = BAR / len(starts)
    bars = []
    for i, (start, n) in enumerate(zip(starts, values, strict=True)):
        height = CHART_HEIGHT * n / top if top else 0.0
        label = start.strftime("%Y-%m-%d %H:00" if unit == "hour" else "%Y-%m-%d")
        bars.append(
            {
                "label": label,
                "count": n,
                "x": round(i * slot + slot * 0.1, 2),
                "width": round(slot * 0.8, 2),
                "y": round(CHART_HEIGHT - height, 2),
                "height": round(height, 2),
                "tick": i % (6 if unit == "hour" else 5) == 0,
                "tick_label": start.strftime("%H:00" if unit == "hour" else "%b %d"),
            }
        )
    return {"unit": unit, "bars": bars, "max": top, "total": sum(values)}
