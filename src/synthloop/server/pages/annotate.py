"""The annotate page: the caller's next record, leased to them, with its fields on the left and
the questions on the right; answers go back through the REST API (static/js/annotate.js).

A reload shows the same record (the queue hands back the caller's running lease first).
`?record=ID` reopens a record the caller has already answered, prefilled with their answer, so
the page's undo can take back the last submission; submitting again updates that response.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from synthloop.errors import DatasetNotFound
from synthloop.records import Record, Response
from synthloop.server.auth import StoreDep
from synthloop.server.pages.annotate_view import record_view
from synthloop.server.pages.common import PageError, PageSession, page, require_page
from synthloop.server.queue import ANSWERABLE, lease_next
from synthloop.store import tables as t
from synthloop.store.dataset import Dataset
from synthloop.store.store import Store

router = APIRouter()


@router.get("/datasets/{name}/annotate")
def annotate(
    request: Request,
    name: str,
    session: PageSession,
    store: StoreDep,
    record: str | None = None,
) -> HTMLResponse:
    require_page(session, "annotate", name, store)
    dataset = _dataset(store, name)
    username = session.user.username
    if record is None:
        found = lease_next(dataset, username)
        mode, expires = "next", _lease_expiry(dataset, found, username)
    else:
        found, mode, expires = _answered(dataset, record, username), "undo", None
    state: dict[str, Any] = {
        "dataset": name,
        "mode": mode,
        "record": None,
        "lease_expires": expires,
        "lease_seconds": dataset.settings.distribution.lease_seconds,
    }
    if found is None:
        return page(request, "annotate_empty.html", session, store, dataset=name, state=state)
    view = record_view(dataset.settings, found, _own(found, username))
    locked = found.status not in ANSWERABLE  # decided meanwhile: shown, but takes no answers
    state |= {
        "record": view.id,
        "locked": locked,
        "questions": [q.state() for q in view.questions],
    }
    return page(
        request,
        "annotate.html",
        session,
        store,
        dataset=name,
        view=view,
        state=state,
        mode=mode,
        locked=locked,
        record_status=found.status,
        guidelines=dataset.settings.guidelines,
    )


def _dataset(store: Store, name: str) -> Dataset:
    try:
        return store.dataset(name)
    except DatasetNotFound:
        raise PageError(404, f"There is no dataset {name!r}.") from None


def _answered(dataset: Dataset, record: str, username: str) -> Record:
    """The record `username` answered, with their response only (never anyone else's)."""
    found = dataset.records_by_id([int(record)]) if record.isdigit() else []
    if not found or _own(found[0], username) is None:
        raise PageError(
            404,
            f"You have not answered a record {record!r} in dataset {dataset.name!r}, so there "
            "is nothing of yours to reopen.",
        )
    found[0].responses = [r for r in found[0].responses if r.user == username]
    return found[0]


def _own(record: Record, username: str) -> Response | None:
    return next((r for r in record.responses if r.user == username), None)


def _lease_expiry(dataset: Dataset, record: Record | None, username: str) -> int | None:
    """When the caller's lease on `record` runs out, in milliseconds since the epoch (what the
    page's undo compares with). Read here because lease_next returns the record alone."""
    if record is None:
        return None
    query = (
        select(t.leases.c.expires_at)
        .join(t.users, t.users.c.id == t.leases.c.user_id)
        .where(t.leases.c.record_id == record.id, t.users.c.username == username)
    )
    with dataset.engine.connect() as conn:
        expires: datetime | None = conn.execute(query).scalar()
    if expires is None:
        return None
    if expires.tzinfo is None:  # SQLite keeps no zone; the queue writes UTC
        expires = expires.replace(tzinfo=UTC)
    return int(expires.timestamp() * 1000)
