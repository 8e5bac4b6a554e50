"""The start page: the datasets the user works on, with their open work."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from synthloop.accounts import can
from synthloop.server.auth import StoreDep
from synthloop.server.pages.common import PageSession, page

router = APIRouter()


@router.get("/")
def home(request: Request, session: PageSession, store: StoreDep) -> HTMLResponse:
    user = session.user
    rows = []
    for dataset in store.datasets():
        if not can(user, "annotate", dataset.name, store):
            continue
        counts = dataset.count(by="status")
        rows.append(
            {
                "name": dataset.name,
                "counts": counts,
                "total": sum(counts.values()),
                "review": can(user, "review", dataset.name, store),
                "dashboard": can(user, "dashboard", dataset.name, store),
            }
        )
    return page(request, "home.html", session, store, datasets=rows)
