"""Server-rendered pages, one module per page; `router` holds them all."""

from fastapi import APIRouter

from synthloop.server.pages import annotate, dashboard, home, login, records, review

router = APIRouter(include_in_schema=False)
for module in (login, home, annotate, review, dashboard, records):
    router.include_router(module.router)
