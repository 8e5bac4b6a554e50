"""Which users work on which datasets. Owners see every dataset without being members."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, insert, select

from synthloop.accounts.credentials import User
from synthloop.errors import UnknownUsers
from synthloop.store import tables as t
from synthloop.store.engine import reader
from synthloop.store.store import Store

__all__ = ["assign", "is_member", "members"]


def assign(store: Store, dataset_name: str, usernames: Iterable[str]) -> list[str]:
    """Make `usernames` members of the dataset; returns who was newly added.

    Idempotent: existing members are left as they are. All or nothing: when any name is unknown,
    nobody is assigned.
    """
    dataset_id = store.dataset(dataset_name).id
    wanted = list(dict.fromkeys(usernames))
    with store.engine.begin() as conn:
        ids = dict(
            conn.execute(
                select(t.users.c.username, t.users.c.id).where(t.users.c.username.in_(wanted))
            ).all()
        )
        missing = [name for name in wanted if name not in ids]
        if missing:
            raise UnknownUsers(missing)
        current = set(
            conn.execute(
                select(t.memberships.c.user_id).where(t.memberships.c.dataset_id == dataset_id)
            ).scalars()
        )
        added = [name for name in wanted if ids[name] not in current]
        if added:
            rows = [{"dataset_id": dataset_id, "user_id": ids[name]} for name in added]
            conn.execute(insert(t.memberships), rows)
    return added


def members(store: Store, dataset_name: str) -> list[User]:
    """The dataset's members, by username."""
    dataset_id = store.dataset(dataset_name).id
    u, m = t.users.c, t.memberships.c
    query = (
        select(u.id, u.username, u.role)
        .join(t.memberships, m.user_id == u.id)
        .where(m.dataset_id == dataset_id)
        .order_by(u.username)
    )
    with store.engine.connect() as conn:
        return [User(r.id, r.username, r.role) for r in conn.execute(query)]


def is_member(store: Store, user: User, dataset_name: str) -> bool:
    """Whether `user` is a member of the dataset (False when there is no such dataset)."""
    with reader(store.engine) as conn:
        found = conn.execute(_MEMBER, {"dataset": dataset_name, "user": user.id}).first()
    return found is not None


# Built once: the server asks on every request.
_MEMBER = (
    select(t.memberships.c.user_id)
    .join(t.datasets, t.datasets.c.id == t.memberships.c.dataset_id)
    .where(t.datasets.c.name == bindparam("dataset"), t.memberships.c.user_id == bindparam("user"))
)
