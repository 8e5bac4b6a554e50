"""Log in and out. The login form carries its own CSRF token (a double-submit cookie), so a
foreign site cannot log a browser into an account of the attacker's choosing."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from synthloop.accounts import authenticate
from synthloop.accounts.sessions import SESSION_HOURS, end_session, start_session
from synthloop.server.auth import COOKIE, CSRF_FIELD, StoreDep
from synthloop.server.pages.common import PageSession, page

router = APIRouter()

_LOGIN_CSRF = "synthloop_login_csrf"


@router.get("/login")
def login_form(request: Request, store: StoreDep, next: str = "/") -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = page(request, "login.html", None, store, next=_local(next), login_csrf=token)
    _set_cookie(request, response, _LOGIN_CSRF, token, max_age=3600)
    return response


@router.post("/login", response_model=None)
def login(
    request: Request,
    store: StoreDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
    next: Annotated[str, Form()] = "/",
) -> HTMLResponse | RedirectResponse:
    expected = request.cookies.get(_LOGIN_CSRF, "")
    if not expected or not hmac.compare_digest(csrf_token, expected):
        return _again(request, store, next, username, "The form expired; please log in again.")
    user = authenticate(store, username, password)
    if user is None:
        return _again(request, store, next, username, "Unknown user name or wrong password.")
    session = start_session(store, user)
    response = RedirectResponse(_local(next), status_code=303)
    _set_cookie(request, response, COOKIE, session.token, max_age=SESSION_HOURS * 3600)
    response.delete_cookie(_LOGIN_CSRF)
    return response


@router.post("/logout")
def logout(request: Request, session: PageSession, store: StoreDep) -> RedirectResponse:
    end_session(store, session.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


def _again(
    request: Request, store: StoreDep, next: str, username: str, message: str
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = page(
        request,
        "login.html",
        None,
        store,
        status_code=400,
        next=_local(next),
        login_csrf=token,
        username=username,
        message=message,
    )
    _set_cookie(request, response, _LOGIN_CSRF, token, max_age=3600)
    return response


def _set_cookie(
    request: Request, response: HTMLResponse | RedirectResponse, name: str, value: str, max_age: int
) -> None:
    # Secure when served over HTTPS (behind a TLS proxy that says so); HttpOnly always, so a
    # script on the page can never read the session.
    secure = request.url.scheme == "https"
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )


def _local(target: str) -> str:
    """Only paths on this site: a login link must not forward to another origin."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
