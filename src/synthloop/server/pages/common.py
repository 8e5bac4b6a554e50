"""What every page shares: the Jinja2 environment, the logged-in session, HTML errors.

Pages are rendered on the server; each gets `session` (user and CSRF token) and `can(action)`
for its dataset. A request without a session is sent to /login and brought back afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from synthloop.accounts import can
from synthloop.accounts.policy import actions_on
from synthloop.accounts.sessions import Session
from synthloop.server.auth import StoreDep, check_csrf, page_session
from synthloop.server.render import markdown
from synthloop.store.store import Store

__all__ = [
    "LoginRequired",
    "PageError",
    "PageSession",
    "login_redirect",
    "page",
    "page_error",
    "require_page",
    "templates",
]

templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")
templates.env.filters["markdown"] = markdown
templates.env.autoescape = True  # every template, whatever its extension


class LoginRequired(Exception):
    """No session: the handler answers with a redirect to the login page."""


class PageError(Exception):
    """A page refused (403) or not found (404): shown as an HTML page, not JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def current_session(request: Request, store: StoreDep) -> Session:
    session = page_session(request, store)
    if session is None:
        raise LoginRequired
    if request.method not in ("GET", "HEAD"):
        await check_csrf(request, session)
    return session


PageSession = Annotated[Session, Depends(current_session)]


def require_page(session: Session, action: str, dataset: str, store: Store) -> None:
    """403 page unless the user may do `action` on the dataset."""
    if not can(session.user, action, dataset, store):
        raise PageError(
            403,
            f"{session.user.username} ({session.user.role}) may not "
            f"{action.replace('_', ' ')} in dataset {dataset!r}. Ask an owner to assign you.",
        )


def page(
    request: Request,
    template: str,
    session: Session | None,
    store: Store,
    dataset: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render `template` with the session, the dataset's permissions and `context`."""

    granted = frozenset() if session is None else actions_on(session.user, dataset, store)
    values = {"session": session, "dataset_name": dataset, "can": granted.__contains__, **context}
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def page_error(request: Request, exc: PageError) -> HTMLResponse:
    store: Store = request.app.state.store
    session = page_session(request, store)
    return page(
        request,
        "error.html",
        session,
        store,
        status_code=exc.status,
        message=exc.message,
        status=exc.status,
    )
