"""Who is calling and whether they may: FastAPI dependencies over accounts.

Two ways in: `Authorization: Bearer TOKEN` (scripts and the client) or the session cookie a
browser got at login. A cookie rides along on cross-site requests too, so a cookie-authenticated
request that changes state must also carry the session's CSRF token (header `X-CSRF-Token`, or
the form field `csrf_token`), which only our own pages can read. Bearer requests need none: a
browser never attaches the header by itself.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from synthloop.accounts import User, can, user_for_token
from synthloop.accounts.policy import role_allows
from synthloop.accounts.sessions import Session, session_for
from synthloop.server.errors import ApiError
from synthloop.store.store import Store

__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CurrentUser",
    "StoreDep",
    "check_csrf",
    "page_session",
    "require",
]

COOKIE = "synthloop_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def get_store(request: Request) -> Store:
    # async although it awaits nothing: FastAPI runs a plain-def dependency in the threadpool,
    # a thread hand-off on every request for an attribute read.
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


async def current_user(request: Request) -> User:
    """The caller; 401 when neither a valid token nor a session comes with the request, 403
    when a session's state-changing request lacks its CSRF token."""
    # The store and the header are read here rather than declared as a dependency and a Header()
    # parameter: FastAPI solves and validates each of those on every request.
    store: Store = request.app.state.store
    authorization = request.headers.get("authorization")
    if authorization is None and request.cookies.get(COOKIE):
        session = page_session(request, store)
        if session is not None:
            if request.method not in SAFE_METHODS:
                await check_csrf(request, session)
            return session.user
    return _token_user(store, authorization)


def _token_user(store: Store, authorization: str | None) -> User:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "send your API token as `Authorization: Bearer TOKEN`, or log in at /login",
            headers=_CHALLENGE,
        )
    user = user_for_token(store, token.strip())
    if user is None:
        raise ApiError(
            401,
            "this API token is not valid; get a new one with `synthloop users token USERNAME`",
            headers=_CHALLENGE,
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def page_session(request: Request, store: Store) -> Session | None:
    """The browser's running session, else None (no cookie, logged out or expired)."""
    return session_for(store, request.cookies.get(COOKIE, ""))


async def check_csrf(request: Request, session: Session) -> None:
    """403 unless the request carries the session's CSRF token in the header or form."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and _is_form(request):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if sent is None or not hmac.compare_digest(sent, session.csrf_token):
        raise ApiError(
            403,
            f"this request changes data but carries no valid CSRF token; send the page's token "
            f"as the {CSRF_HEADER} header or the {CSRF_FIELD} form field (reload the page to "
            f"get a fresh one)",
        )


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def require(user: User, action: str, dataset: str, store: Store) -> None:
    """403 unless `user` may do `action` on the dataset."""
    if can(user, action, dataset, store):
        return
    if role_allows(user.role, action):
        fix = f"an owner can assign them with `synthloop datasets assign {dataset} {user.username}`"
    else:
        fix = f"no {user.role} may; it takes a role that can (see `synthloop users add --help`)"
    raise ApiError(
        403,
        f"user {user.username!r} ({user.role}) may not {action.replace('_', ' ')} in dataset "
        f"{dataset!r}; {fix}",
    )
