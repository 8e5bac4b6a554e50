"""Browser sessions: what the UI's cookie stands for.

Logging in makes a random session token (sent as an HttpOnly cookie; the store keeps only its
sha256) and a CSRF token (embedded in pages; every state-changing request carries it back). A
session ends at logout or after SESSION_HOURS; a stolen database yields no usable cookie.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select

from synthloop.accounts.credentials import User
from synthloop.accounts.credentials import _token_hash as _hash
from synthloop.store import tables as t
from synthloop.store.store import Store

__all__ = ["SESSION_HOURS", "Session", "end_session", "session_for", "start_session"]

SESSION_HOURS = 12


@dataclass(frozen=True)
class Session:
    user: User
    token: str  # the cookie value (plain only when just started or just read from the cookie)
    csrf_token: str


def start_session(store: Store, user: User) -> Session:
    """A new session for `user`; expired sessions are swept on the way."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = {
        "token_hash": _hash(token),
        "user_id": user.id,
        "csrf_token": csrf,
        "expires_at": now + timedelta(hours=SESSION_HOURS),
    }
    with store.engine.begin() as conn:
        conn.execute(delete(t.sessions).where(t.sessions.c.expires_at <= now))
        conn.execute(insert(t.sessions).values(**row))
    return Session(user, token, csrf)


def session_for(store: Store, token: str) -> Session | None:
    """The running session behind cookie value `token`, else None."""
    if not token:
        return None
    s, u = t.sessions.c, t.users.c
    query = (
        select(u.id, u.username, u.role, s.csrf_token)
        .join(t.users, u.id == s.user_id)
        .where(s.token_hash == _hash(token), s.expires_at > datetime.now(UTC))
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return Session(User(row.id, row.username, row.role), token, row.csrf_token)


def end_session(store: Store, token: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(t.sessions).where(t.sessions.c.token_hash == _hash(token)))
