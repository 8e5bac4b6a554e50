"""Who is calling (a Bearer token) and whether they may: FastAPI dependencies over accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from synthloop.accounts import User, can, user_for_token
from synthloop.server.errors import ApiError
from synthloop.store.store import Store

__all__ = ["CurrentUser", "StoreDep", "require"]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def current_user(store: StoreDep, authorization: Annotated[str | None, Header()] = None) -> User:
    """The token's user; 401 when the header is missing, malformed or the token unknown."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, "send your API token as `Authorization: Bearer TOKEN`", headers=_CHALLENGE
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


def require(user: User, action: str, dataset: str, store: Store) -> None:
    """403 unless `user` may do `action` on the dataset."""
    if not can(user, action, dataset, store):
        raise ApiError(
            403,
            f"user {user.username!r} ({user.role}) may not {action.replace('_', ' ')} in dataset "
            f"{dataset!r}; an owner can assign them with `synthloop datasets assign {dataset} "
            f"{user.username}`",
        )
