"""The start page: the datasets the user works on, with their open work."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from synthloop.accounts.policy import actions_on
from synthloop.server.auth import StoreDep
from synthloop.server.pages.common import PageSession, page

router = APIRouter()


@router.get("/")
def home(request: Request, session: PageSession, store: StoreDep) -> HTMLResponse:
    user = session.user
    rows = []
    for dataset in store.datasets():
        granted = actions_on(user, dataset.name, store)
        if "annotate" not in granted:
            continue
        counts = dataset.count(by="status")
        rows.append(
            {
                "name": dataset.name,
                "counts": counts,
                "total": sum(counts.values()),
                "review": "review" in granted,
                "dashboard": "dashboard" in granted,
            }
        )
    return page(request, "home.html", session, store, datasets=rows)
