"""The records browser: every record of a dataset, filtered by status, source, reason, label,
metadata and full-text search, a keyset page at a time; and one record in full, read-only.

The filters are a GET form, so a filtered view is a URL to share. Owners and reviewers only:
the pages show other people's answers.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from synthloop.errors import SynthloopError
from synthloop.records import SOURCES, STATUSES, Record
from synthloop.server.auth import StoreDep
from synthloop.server.pages.common import PageSession, page, require_page
from synthloop.server.pages.record_view import answer_text, dataset_or_404, preview, record_or_404
from synthloop.server.pages.review import record_context
from synthloop.server.queue import ANSWERABLE
from synthloop.settings import Settings
from synthloop.store.browse import LABEL_TYPES, RecordFilter, RecordPage, browse, count

__all__ = ["router"]

router = APIRouter()

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
FINAL_CHARS = 120

Many = Annotated[list[str] | None, Query()]


@router.get("/datasets/{name}/records")
def records_page(
    request: Request,
    name: str,
    session: PageSession,
    store: StoreDep,
    status: Many = None,
    source: Many = None,
    reason: str = "",
    label: str = "",
    question: str = "",
    meta: Many = None,
    q: str = "",
    after: int | None = None,
    before: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> HTMLResponse:
    """Matching records by store id, `limit` a page (at most MAX_LIMIT); `after` and `before`
    are the store ids the pager links carry."""
    require_page(session, "dashboard", name, store)
    dataset = dataset_or_404(store, name)
    given = {
        "status": [s for s in status or [] if s],
        "source": [s for s in source or [] if s],
        "reason": reason.strip(),
        "label": label.strip(),
        "question": question,
        "meta": [m for m in meta or [] if m.strip()],
        "q": q.strip(),
    }
    limit = max(1, min(limit, MAX_LIMIT))
    found, total, problem = RecordPage(), 0, ""
    try:
        where = _filter(given)
        found = browse(dataset, where, after, before, limit)
        total = count(dataset, where)
    except SynthloopError as exc:
        problem = str(exc)
    settings = dataset.settings
    return page(
        request,
        "records.html",
        session,
        store,
        dataset=name,
        status_code=400 if problem else 200,
        given=given,
        problem=problem,
        total=total,
        rows=[_row(settings, r) for r in found.records],
        next_link=_link(name, given, limit, after=found.next_after),
        previous_link=_link(name, given, limit, before=found.previous_before),
        filtered=any(given.values()),
        statuses=STATUSES,
        sources=SOURCES,
        status_counts=dataset.count(by="status"),
        label_questions=[x for x in settings.questions if x.type in LABEL_TYPES],
    )


@router.get("/datasets/{name}/records/{record_id}")
def record_page(
    request: Request, name: str, record_id: int, session: PageSession, store: StoreDep
) -> HTMLResponse:
    """One record in full: fields, every response side by side, agreement, final value."""
    require_page(session, "dashboard", name, store)
    require_page(session, "read_responses", name, store)
    dataset = dataset_or_404(store, name)
    record = record_or_404(dataset, record_id)
    return page(
        request,
        "records_detail.html",
        session,
        store,
        dataset=name,
        pick=False,
        reviewable=record.status in ANSWERABLE,
        **record_context(dataset, record),
    )


def _filter(given: dict[str, Any]) -> RecordFilter:
    pairs = []
    for item in given["meta"]:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SynthloopError(
                f"metadata filter {item!r} needs the form key=value, e.g. channel=chat"
            )
        pairs.append((key.strip(), value.strip()))
    return RecordFilter(
        status=tuple(given["status"]),
        source=tuple(given["source"]),
        reason=given["reason"],
        label=given["label"],
        question=given["question"] if given["label"] else "",
        metadata=tuple(pairs),
        text=given["q"],
    )


def _row(settings: Settings, record: Record) -> dict[str, Any]:
    return {
        "id": record.id,
        "external_id": record.external_id,
        "status": record.status,
        "reason": record.reason,
        "source": record.source,
        "preview": preview(settings, record),
        "final": _final_summary(settings, record),
    }


def _final_summary(settings: Settings, record: Record) -> str:
    """The final value on one line: `intent: refund · quality: 4`."""
    if not record.final:
        return ""
    parts = [
        f"{q.name}: {'; '.join(answer_text(q, record.final[q.name], record.fields))}"
        for q in settings.questions
        if record.final.get(q.name) is not None
    ]
    line = " · ".join(" ".join(p.split()) for p in parts)
    return line if len(line) <= FINAL_CHARS else line[: FINAL_CHARS - 1] + "…"


def _link(name: str, given: dict[str, Any], limit: int, **at: int | None) -> str:
    """The URL of another page of the same filters; "" when there is none."""
    ((key, value),) = at.items()
    if value is None:
        return ""
    params = {k: v for k, v in given.items() if v}
    if limit != DEFAULT_LIMIT:
        params["limit"] = limit
    params[key] = value
    return f"/datasets/{name}/records?{urlencode(params, doseq=True)}"
