"""The review page: disputed records, and one record with every answer side by side, where a
reviewer (or an owner) settles it. The saved answer is final: it is stored as the reviewer's
response and the record is adjudicated (accepted, `decided_by: reviewer:NAME`); then the next
disputed record opens."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from synthloop.accounts.sessions import Session
from synthloop.errors import InvalidResponse, Problem, SynthloopError
from synthloop.quality.dataset import adjudicate
from synthloop.records import Record
from synthloop.server.auth import StoreDep
from synthloop.server.pages.common import PageSession, page, require_page
from synthloop.server.pages.record_view import (
    answer_text,
    dataset_or_404,
    field_views,
    pretty,
    preview,
    record_or_404,
    responses_of,
    splits,
)
from synthloop.server.pages.review_form import EditorState, editor_state, read_answer, span_text
from synthloop.server.queue import ANSWERABLE, submit
from synthloop.store.browse import review_neighbours, review_page
from synthloop.store.dataset import Dataset
from synthloop.store.store import Store

__all__ = ["record_context", "router"]

router = APIRouter()

PAGE_SIZE = 50
MAX_PAGE = 500


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


@router.get("/datasets/{name}/review")
def review_list(
    request: Request,
    name: str,
    session: PageSession,
    store: StoreDep,
    after: int | None = None,
    limit: int = PAGE_SIZE,
    saved: str = "",
) -> HTMLResponse:
    """Disputed records, highest priority first, then newest; `limit` a page."""
    require_page(session, "review", name, store)
    dataset = dataset_or_404(store, name)
    limit = max(1, min(limit, MAX_PAGE))
    found = review_page(dataset, after, limit)
    rows = [
        {
            "id": r.id,
            "external_id": r.external_id,
            "reason": r.reason,
            "priority": r.priority,
            "answers": sum(1 for x in r.responses if x.status == "submitted"),
            "preview": preview(dataset.settings, r),
        }
        for r in found.records
    ]
    return page(
        request,
        "review_list.html",
        session,
        store,
        dataset=name,
        rows=rows,
        total=dataset.count(status="disputed"),
        next_link=_list_link(name, found.next_after, limit),
        paged=after is not None,
        saved=saved,
    )


@router.get("/datasets/{name}/review/{record_id}")
def review_record(
    request: Request,
    name: str,
    record_id: int,
    session: PageSession,
    store: StoreDep,
    saved: str = "",
) -> HTMLResponse:
    """One record with every response, the agreement per question, and the final-answer editor
    (starting from the reviewer's own earlier answer, else the record's final value)."""
    require_page(session, "review", name, store)
    dataset = dataset_or_404(store, name)
    record = record_or_404(dataset, record_id)
    own = next((r.values for r in record.responses if r.user == session.user.username), None)
    state = editor_state(dataset.settings, record.fields, own, record.final)
    return _detail(request, session, store, dataset, record, state, saved=saved)


@router.post("/datasets/{name}/review/{record_id}", response_model=None)
def save_review(
    request: Request,
    name: str,
    record_id: int,
    session: PageSession,
    store: StoreDep,
    form: FormDep,
) -> HTMLResponse | RedirectResponse:
    """Store the reviewer's answer and make it final; the form again with every problem when
    it does not answer the questions (nothing is saved then)."""
    require_page(session, "review", name, store)
    dataset = dataset_or_404(store, name)
    record = record_or_404(dataset, record_id)
    values, state, problems = read_answer(dataset.settings, form, record.fields)
    try:
        if problems:
            raise InvalidResponse(problems)
        submit(dataset, record_id, session.user.username, values, "submitted", _duration(form))
        adjudicate(dataset, record_id, session.user.username)
    except InvalidResponse as exc:
        return _detail(request, session, store, dataset, record, state, exc.problems, 422)
    except SynthloopError as exc:  # the record was settled meanwhile, say
        problem = [Problem("", str(exc))]
        return _detail(request, session, store, dataset, record, state, problem, 409)
    return RedirectResponse(_after_save(dataset, record), status_code=303)


def _list_link(name: str, after: int | None, limit: int) -> str:
    if after is None:
        return ""
    params = {"after": after, **({"limit": limit} if limit != PAGE_SIZE else {})}
    return f"/datasets/{name}/review?{urlencode(params)}"


def _after_save(dataset: Dataset, record: Record) -> str:
    """The next disputed record in the review order (from the top when this was the last);
    the list when none is left."""
    assert record.id is not None
    base = f"/datasets/{dataset.name}/review"
    query = "?" + urlencode({"saved": record.external_id})
    _, following = review_neighbours(dataset, record.id)
    if following is None:
        first = review_page(dataset, limit=1).records
        following = first[0].id if first else None
    return f"{base}/{following}{query}" if following is not None else base + query


def _duration(form: FormData) -> float | None:
    """Seconds the reviewer spent, measured by the page's script (absent without it)."""
    try:
        seconds = float(str(form.get("duration", "")))
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86400 * 7 else None


def _detail(
    request: Request,
    session: Session,
    store: Store,
    dataset: Dataset,
    record: Record,
    state: EditorState,
    problems: list[Problem] | None = None,
    status: int = 200,
    saved: str = "",
) -> HTMLResponse:
    assert record.id is not None
    before, after = review_neighbours(dataset, record.id)
    return page(
        request,
        "review.html",
        session,
        store,
        dataset=dataset.name,
        status_code=status,
        editable=record.status in ANSWERABLE,
        state=state,
        spans={q.name: span_text(state.get(q.name)) for q in dataset.settings.questions},
        problems=problems or [],
        previous_id=before,
        next_id=after,
        saved=saved,
        **record_context(dataset, record),
    )


def record_context(dataset: Dataset, record: Record) -> dict[str, Any]:
    """What review.html and records_detail.html show of a record."""
    columns = responses_of(dataset, record)
    questions = dataset.settings.questions
    final = record.final or {}
    return {
        "record": record,
        "questions": questions,
        "fields": field_views(dataset.settings, record),
        "columns": columns,
        "splits": {s.question: s for s in splits(dataset.settings, record)},
        # For the page's script: the answers it copies into the editor, in column order.
        "answers": [{"user": c.user, "values": c.values} for c in columns],
        "decided_by": record.metadata.get("decided_by"),
        "final_lines": {
            q.name: answer_text(q, final.get(q.name), record.fields) for q in questions
        },
        "suggested": {
            q: (answer_text(dataset.settings.question(q), s.value, record.fields), s)
            for q, s in record.suggestions.items()
            if q in {x.name for x in questions}
        },
        "metadata": pretty(record.metadata) if record.metadata else "",
        "provenance": pretty(record.provenance) if record.provenance else "",
    }
