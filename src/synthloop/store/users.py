"""Users of a store: who answered, and in which role. Importing responses makes annotators; other
roles (e.g. "reviewer", whose decision on a record is final) are set here. Credentials and
dataset access live in synthloop.accounts."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select, update

from synthloop.errors import SynthloopError
from synthloop.store import tables as t

__all__ = ["ROLES", "roles", "set_role"]

ROLES = ("annotator", "reviewer", "owner")


def set_role(engine: Engine, name: str, role: str = "annotator") -> None:
    """Create user `name` with `role`, or give an existing user that role."""
    if role not in ROLES:
        raise SynthloopError(f"role {role!r} of user {name!r} is not one of {', '.join(ROLES)}")
    if not name:
        raise SynthloopError("a user needs a non-empty name")
    with engine.begin() as conn:
        found = conn.execute(select(t.users.c.id).where(t.users.c.username == name)).first()
        if found is None:
            conn.execute(insert(t.users).values(username=name, role=role))
        else:
            conn.execute(update(t.users).where(t.users.c.id == found.id).values(role=role))


def roles(engine: Engine) -> dict[str, str]:
    """Every user's role, by username."""
    with engine.connect() as conn:
        return dict(tuple(row) for row in conn.execute(select(t.users.c.username, t.users.c.role)))
