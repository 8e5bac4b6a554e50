"""Accounts and access: who a caller is (credentials), which datasets they work on (membership)
and what they may do there (policy). Plain functions over a Store; the CLI and the HTTP layer
only call them.

    creds = create_user(store, "ana", "annotator")     # creds.password, creds.token: shown once
    assign(store, "support", ["ana"])
    user = user_for_token(store, creds.token)
    can(user, "annotate", "support", store)            # True
"""

from synthloop.accounts.credentials import (
    Credentials,
    User,
    authenticate,
    create_user,
    rotate_token,
    user_for_token,
)
from synthloop.accounts.membership import assign, is_member, members
from synthloop.accounts.policy import ACTIONS, can
from synthloop.store.users import ROLES

__all__ = [
    "ACTIONS",
    "ROLES",
    "Credentials",
    "User",
    "assign",
    "authenticate",
    "can",
    "create_user",
    "is_member",
    "members",
    "rotate_token",
    "user_for_token",
]
