"""Commands for accounts and access: add users, give them new tokens, assign them to datasets."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from synthloop import accounts
from synthloop.cli._common import Db, Json, open_or_fail, out, print_json, user_errors
from synthloop.errors import SynthloopError

Username = Annotated[str, typer.Argument(metavar="NAME", help="Username.")]

_ONCE = "shown this once: store {} now (only hashes are kept)"


def users_add(
    name: Username,
    role: Annotated[str, typer.Option(help="owner, reviewer or annotator.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Create a user with a password (generated unless given on stdin) and an API token."""
    store = open_or_fail(db, as_json)
    with user_errors(as_json):
        password = _read_password(name) if password_stdin else None
        creds = accounts.create_user(store, name, role, password)
    if as_json:
        print_json({"username": creds.username, "password": creds.password, "token": creds.token})
        return
    once = _ONCE.format("them")
    out.print(f"created {role} {name!r}; password and API token {once}", markup=False)
    out.print(f"password: {creds.password}\ntoken:    {creds.token}", markup=False)


def users_token(name: Username, db: Db = None, as_json: Json = False) -> None:
    """Give a user a new API token; the old one stops working."""
    store = open_or_fail(db, as_json)
    with user_errors(as_json):
        token = accounts.rotate_token(store, name)
    if as_json:
        print_json({"username": name, "token": token})
        return
    out.print(f"new API token for {name!r}, {_ONCE.format('it')}\ntoken: {token}", markup=False)


def datasets_assign(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset name.")],
    users: Annotated[list[str], typer.Argument(metavar="USER...", help="Usernames to assign.")],
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Make users members of a dataset, so they can annotate (and reviewers review) it."""
    store = open_or_fail(db, as_json)
    with user_errors(as_json):
        added = accounts.assign(store, name, users)
        current = [u.username for u in accounts.members(store, name)]
    if as_json:
        print_json({"dataset": name, "added": added, "members": current})
        return
    already = len(dict.fromkeys(users)) - len(added)
    note = f" ({already} already a member)" if already else ""
    out.print(f"assigned {len(added)} user(s) to {name!r}{note}", markup=False)
    out.print(f"members: {', '.join(current)}", markup=False)


def _read_password(name: str) -> str:
    # One line, as `echo secret | synthloop users add ...` or a password manager sends it.
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise SynthloopError(
            f"--password-stdin for user {name!r} read an empty password; pipe one in, "
            "or leave out --password-stdin to have one generated"
        )
    return password
