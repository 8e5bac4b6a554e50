"""What a user may do: one table of grants per role, plus dataset membership.

Owners may do everything, on every dataset. Everyone else acts only on datasets they are members
of, and only as their role's row allows. Actions without a dataset (creating datasets, adding
users) are owners' alone.
"""

from __future__ import annotations

from synthloop.accounts.credentials import User
from synthloop.accounts.membership import is_member
from synthloop.store.store import Store

__all__ = ["ACTIONS", "actions_on", "can", "role_allows"]

ACTIONS = ("annotate", "review", "dashboard", "manage", "read_responses")

_GRANTS: dict[str, frozenset[str]] = {
    "owner": frozenset(ACTIONS),
    # Reviewers adjudicate disputed records, which means reading the annotators' responses.
    "reviewer": frozenset({"annotate", "review", "dashboard", "read_responses"}),
    # Annotators see only their own answers, so they cannot copy or anchor on anyone else's.
    "annotator": frozenset({"annotate"}),
}


def can(user: User, action: str, dataset_name: str | None, store: Store) -> bool:
    """Whether `user` may do `action` on the dataset (or, with None, store-wide)."""
    if action not in ACTIONS:
        # A typo here would silently deny (or grant) access: fail loudly instead.
        raise ValueError(f"action {action!r} is not one of {', '.join(ACTIONS)}")
    if action not in _GRANTS.get(user.role, frozenset()):
        return False
    if user.role == "owner":
        return True
    return dataset_name is not None and is_member(store, user, dataset_name)


def role_allows(role: str, action: str) -> bool:
    """Whether `role` grants `action` at all (membership aside): tells "assign them" from "give
    them another role" when access is refused."""
    return action in _GRANTS.get(role, frozenset())


def actions_on(user: User, dataset_name: str | None, store: Store) -> frozenset[str]:
    """Every action `user` may do on the dataset, with one membership lookup: what a page that
    shows several links asks, instead of calling `can` once per link."""
    granted = _GRANTS.get(user.role, frozenset())
    if user.role == "owner":
        return granted
    if dataset_name is None or not granted or not is_member(store, user, dataset_name):
        return frozenset()
    return granted
