"""The annotation server: `create_app(db)` builds the FastAPI app over one Store.

uvicorn --factory synthloop.server.app:app_from_env      ($SYNTHLOOP_DB names the store)
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles

from synthloop.server import pages
from synthloop.server.api import dataset_records, datasets, records
from synthloop.server.auth import COOKIE
from synthloop.server.errors import install
from synthloop.server.metrics import Metrics, MetricsMiddleware
from synthloop.server.pages.common import LoginRequired, PageError, login_redirect, page_error
from synthloop.server.security import SecurityHeaders
from synthloop.store.store import Store, open_store

__all__ = ["app_from_env", "create_app"]

_STATIC = Path(__file__).resolve().parent / "static"


def create_app(db: str | os.PathLike[str] | None = None) -> FastAPI:
    """The app; its Store opens at startup and closes at shutdown (db None: $SYNTHLOOP_DB, else
    ./synthloop.db)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(db)
        # Everything loaded so far (modules, the app, SQLAlchemy's compiled statements) lives as
        # long as the server: freezing it spares every full collection from walking it again.
        # The oldest generation's collections ran mid-request and showed in the tail (32
        # annotators, bench/server.py: p99 105 -> 85 ms in 3 paired runs).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            app.state.store.close()

    app = FastAPI(title="synthloop", summary="Annotation API", lifespan=lifespan)
    app.state.metrics = metrics = Metrics()
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeaders)
    install(app)
    app.add_exception_handler(LoginRequired, lambda request, exc: login_redirect(request))
    app.add_exception_handler(PageError, page_error)  # type: ignore[arg-type]
    app.include_router(datasets.router)
    app.include_router(records.router)
    app.include_router(dataset_records.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    app.add_api_route("/metrics", _metrics, methods=["GET"], response_class=PlainTextResponse)
    _document_auth(app)
    return app


_SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "An API token."},
    "session": {"type": "apiKey", "in": "cookie", "name": COOKIE, "description": "After /login."},
}


def _document_auth(app: FastAPI) -> None:
    """List the two ways in on every /api operation of the OpenAPI schema: `current_user` reads
    the header and cookie from the request itself, so FastAPI cannot see them."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = _SECURITY_SCHEMES
            for path, item in schema["paths"].items():
                if path.startswith("/api/"):
                    for operation in item.values():
                        operation["security"] = [{"bearer": []}, {"session": []}]
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """For uvicorn's --factory (several workers each build their own app)."""
    return create_app(None)


def _metrics(request: Request) -> PlainTextResponse:
    """Prometheus text: request counts and latency by route, queue depth, responses stored."""
    store: Store = request.app.state.store
    depth = {d.name: int(d.count(status="queued")) for d in store.datasets()}
    body = request.app.state.metrics.render(depth)
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")
