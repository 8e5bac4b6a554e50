"""Who a caller is: users with an argon2 password hash and a hashed API token.

Only hashes are stored. The plain password and token exist once, in the Credentials returned
when they are made; a lost token is replaced with rotate_token, never recovered.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from synthloop.errors import SynthloopError, UnknownUsers, UserExists
from synthloop.store import tables as t
from synthloop.store.engine import reader
from synthloop.store.store import Store
from synthloop.store.users import ROLES

__all__ = [
    "MIN_PASSWORD",
    "Credentials",
    "User",
    "authenticate",
    "create_user",
    "rotate_token",
    "user_for_token",
]

MIN_PASSWORD = 8
_GENERATED_BYTES = 18  # token_urlsafe(18) is 24 characters


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str


@dataclass(frozen=True)
class Credentials:
    """A new user's secrets, in plain text this once; the store keeps only their hashes."""

    username: str
    password: str
    token: str


def create_user(store: Store, username: str, role: str, password: str | None = None) -> Credentials:
    """Create `username` with `role`, a password (generated when None) and an API token."""
    _check_new_user(username, role, password)
    password = password if password is not None else secrets.token_urlsafe(_GENERATED_BYTES)
    token = _new_token()
    row = {
        "username": username,
        "role": role,
        "password_hash": _hasher().hash(password),
        "token_hash": _token_hash(token),
    }
    try:
        with store.engine.begin() as conn:
            conn.execute(insert(t.users).values(**row))
    except IntegrityError:
        raise UserExists(username) from None
    return Credentials(username, password, token)


def rotate_token(store: Store, username: str) -> str:
    """Give `username` a new API token; the old one stops working at once."""
    token = _new_token()
    query = update(t.users).where(t.users.c.username == username)
    with store.engine.begin() as conn:
        changed = conn.execute(query.values(token_hash=_token_hash(token))).rowcount
    if not changed:
        raise UnknownUsers([username])
    return token


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The user whose name and password these are, else None (unknown name or wrong password)."""
    user, stored = _find(store, _BY_NAME, {"username": username}) or (None, None)
    # Verify against a dummy hash when there is nothing to check, so a missing user costs the
    # same time as a wrong password and response times do not reveal which names exist.
    if not _verify(stored or _dummy_hash(), password) or user is None or stored is None:
        return None
    if _hasher().check_needs_rehash(stored):  # hashed with older parameters: upgrade it
        _set_password_hash(store, user.id, _hasher().hash(password))
    return user


def user_for_token(store: Store, token: str) -> User | None:
    """The user holding API token `token`, else None."""
    if not token:
        return None
    # Looking up the sha256 leaks nothing through timing: it does not reveal the token's prefix.
    found = _find(store, _BY_TOKEN, {"token_hash": _token_hash(token)})
    return None if found is None else found[0]


def _check_new_user(username: str, role: str, password: str | None) -> None:
    if not username.strip() or len(username) > 200:
        raise SynthloopError(f"username {username!r} is not valid: use 1-200 characters")
    if role not in ROLES:
        raise SynthloopError(
            f"role {role!r} of user {username!r} is not one of {', '.join(ROLES)}; pick one of them"
        )
    if password is not None and len(password) < MIN_PASSWORD:
        raise SynthloopError(
            f"the password for user {username!r} has {len(password)} characters; use at least "
            f"{MIN_PASSWORD}, or leave it out to have one generated"
        )


_ROW = select(t.users.c.id, t.users.c.username, t.users.c.role, t.users.c.password_hash)
# Built once: on the server a token is looked up on every request.
_BY_NAME = _ROW.where(t.users.c.username == bindparam("username"))
_BY_TOKEN = _ROW.where(t.users.c.token_hash == bindparam("token_hash"))


def _find(
    store: Store, query: Select[Any], params: dict[str, str]
) -> tuple[User, str | None] | None:
    """The matching user and their password hash."""
    with reader(store.engine) as conn:
        row = conn.execute(query, params).first()
    return None if row is None else (User(row.id, row.username, row.role), row.password_hash)


def _set_password_hash(store: Store, user_id: int, password_hash: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(t.users).where(t.users.c.id == user_id).values(password_hash=password_hash)
        )


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _token_hash(token: str) -> str:
    # A plain sha256 suffices: the token has 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))
