"""Accounts and access: credentials stored only as hashes, tokens, memberships, the permission
table, and the `users` / `datasets assign` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import synthloop
from synthloop import accounts
from synthloop.accounts import User, assign, authenticate, can, create_user, members
from synthloop.accounts.policy import actions_on
from synthloop.cli import app
from synthloop.errors import SynthloopError, UnknownUsers, UserExists
from synthloop.store import tables as t


def _row(store: synthloop.Store, username: str) -> Any:
    query = select(t.users).where(t.users.c.username == username)
    with store.engine.connect() as conn:
        return conn.execute(query).one()


# ---------------------------------------------------------------- credentials


def test_create_then_authenticate_and_token(store: synthloop.Store) -> None:
    creds = create_user(store, "ana", "annotator", password="correct horse")
    user = authenticate(store, "ana", "correct horse")
    assert user is not None
    assert (user.username, user.role) == ("ana", "annotator")
    assert accounts.user_for_token(store, creds.token) == user


def test_only_hashes_are_stored(store: synthloop.Store) -> None:
    creds = create_user(store, "ana", "reviewer")
    row = _row(store, "ana")
    assert creds.password not in row.password_hash
    assert row.password_hash.startswith("$argon2id$")
    assert row.token_hash != creds.token
    assert len(row.token_hash) == 64
    assert creds.token not in str(tuple(row))


def test_generated_password_is_long_and_unique(store: synthloop.Store) -> None:
    first, second = create_user(store, "a", "annotator"), create_user(store, "b", "annotator")
    assert len(first.password) >= 16
    assert first.password != second.password
    assert len(first.token) >= 43
    assert first.token != second.token
    assert authenticate(store, "a", first.password) is not None


def test_wrong_password_unknown_user_and_bad_token_are_none(store: synthloop.Store) -> None:
    creds = create_user(store, "ana", "annotator", password="correct horse")
    store.add_user("imported")  # made by an import: no password, cannot log in
    assert authenticate(store, "ana", "wrong horse") is None
    assert authenticate(store, "nobody", "correct horse") is None
    assert authenticate(store, "imported", "") is None
    assert accounts.user_for_token(store, creds.token + "x") is None
    assert accounts.user_for_token(store, "") is None


def test_rotate_token_replaces_the_old_one(store: synthloop.Store) -> None:
    old = create_user(store, "ana", "annotator").token
    new = accounts.rotate_token(store, "ana")
    assert accounts.user_for_token(store, old) is None
    user = accounts.user_for_token(store, new)
    assert user is not None
    assert user.username == "ana"
    with pytest.raises(UnknownUsers, match=r"'bob'.*synthloop users add"):
        accounts.rotate_token(store, "bob")


def test_creating_an_existing_user_names_the_fix(store: synthloop.Store) -> None:
    create_user(store, "ana", "annotator")
    with pytest.raises(UserExists, match=r"'ana' already exists.*synthloop users token ana"):
        create_user(store, "ana", "reviewer")


@pytest.mark.parametrize(
    ("username", "role", "password", "message"),
    [
        ("ana", "admin", None, "role 'admin' .* not one of annotator, reviewer, owner"),
        ("", "owner", None, "username '' is not valid"),
        ("ana", "owner", "short", "5 characters; use at least 8"),
    ],
)
def test_invalid_new_users_are_refused(
    sqlite_store: synthloop.Store, username: str, role: str, password: str | None, message: str
) -> None:
    with pytest.raises(SynthloopError, match=message):
        create_user(sqlite_store, username, role, password)


def test_store_add_user_knows_owner_not_admin(sqlite_store: synthloop.Store) -> None:
    sqlite_store.add_user("boss", "owner")
    with pytest.raises(SynthloopError, match="'admin'"):
        sqlite_store.add_user("boss", "admin")


# ---------------------------------------------------------------- membership


def test_assign_is_idempotent_and_lists_members(
    store: synthloop.Store, dataset: synthloop.Dataset
) -> None:
    for name in ("bo", "ana"):
        store.add_user(name)
    assert assign(store, "support", ["ana", "bo", "ana"]) == ["ana", "bo"]
    assert assign(store, "support", ["bo"]) == []
    assert [u.username for u in members(store, "support")] == ["ana", "bo"]


def test_assign_with_unknown_users_assigns_nobody(
    store: synthloop.Store, dataset: synthloop.Dataset
) -> None:
    store.add_user("ana")
    with pytest.raises(UnknownUsers, match="'ghost', 'nobody'"):
        assign(store, "support", ["ana", "ghost", "nobody"])
    assert members(store, "support") == []


def test_assign_to_a_missing_dataset(sqlite_store: synthloop.Store) -> None:
    sqlite_store.add_user("ana")
    with pytest.raises(synthloop.DatasetNotFound, match="'nope'"):
        assign(sqlite_store, "nope", ["ana"])


# ---------------------------------------------------------------- permissions

# role -> actions allowed on a dataset the user is a member of; non-members get nothing,
# except owners, who get everything everywhere.
MEMBER_GRANTS = {
    "owner": set(accounts.ACTIONS),
    "reviewer": {"annotate", "review", "dashboard", "read_responses"},
    "annotator": {"annotate"},
}
MATRIX = [
    (role, action, member, (role == "owner") or (member and action in MEMBER_GRANTS[role]))
    for role in accounts.ROLES
    for action in accounts.ACTIONS
    for member in (True, False)
]


@pytest.fixture
def policy_store(sqlite_store: synthloop.Store, settings: synthloop.Settings) -> synthloop.Store:
    sqlite_store.create_dataset("support", settings)
    sqlite_store.create_dataset("other", settings)
    for role in accounts.ROLES:
        sqlite_store.add_user(role, role)
    assign(sqlite_store, "support", list(accounts.ROLES))
    return sqlite_store


def _user(store: synthloop.Store, role: str) -> User:
    row = _row(store, role)
    return User(row.id, row.username, row.role)


@pytest.mark.parametrize(("role", "action", "member", "allowed"), MATRIX)
def test_permission_matrix(
    policy_store: synthloop.Store, role: str, action: str, member: bool, allowed: bool
) -> None:
    dataset = "support" if member else "other"
    assert can(_user(policy_store, role), action, dataset, policy_store) is allowed


@pytest.mark.parametrize("role", accounts.ROLES)
@pytest.mark.parametrize("dataset", ["support", "other", None])
def test_actions_on_is_can_for_every_action(
    policy_store: synthloop.Store, role: str, dataset: str | None
) -> None:
    user = _user(policy_store, role)
    expected = {a for a in accounts.ACTIONS if can(user, a, dataset, policy_store)}
    assert actions_on(user, dataset, policy_store) == expected


@pytest.mark.parametrize("role", accounts.ROLES)
def test_store_wide_actions_are_owners_only(policy_store: synthloop.Store, role: str) -> None:
    assert can(_user(policy_store, role), "manage", None, policy_store) is (role == "owner")


def test_missing_dataset_and_unknown_action(policy_store: synthloop.Store) -> None:
    assert not can(_user(policy_store, "reviewer"), "review", "nope", policy_store)
    with pytest.raises(ValueError, match="'delete' is not one of"):
        can(_user(policy_store, "owner"), "delete", "support", policy_store)


# ---------------------------------------------------------------- CLI


def _invoke(*args: str, input: str | None = None) -> Any:
    result = CliRunner().invoke(app, list(args), input=input, env={"SYNTHLOOP_DB": None})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_cli_users_add_json(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    result = _invoke("users", "add", "ana", "--role", "reviewer", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    body = orjson.loads(result.stdout)
    assert set(body) == {"username", "password", "token"}
    assert len(body["password"]) >= 16
    with synthloop.open(db) as store:
        user = accounts.user_for_token(store, body["token"])
        assert user is not None
        assert user.role == "reviewer"
        assert authenticate(store, "ana", body["password"]) == user


def test_cli_users_add_password_stdin(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    args = ("users", "add", "ana", "--role", "owner", "--password-stdin", "--db", db)
    result = _invoke(*args, input="correct horse\n")
    assert result.exit_code == 0, result.output
    assert "password: correct horse" in result.stdout
    assert "token:" in result.stdout
    with synthloop.open(db) as store:
        assert authenticate(store, "ana", "correct horse") is not None
    again = _invoke(*args, input="correct horse\n")
    assert again.exit_code == 1
    assert "synthloop users token ana" in again.stderr


def test_cli_users_add_empty_stdin(tmp_path: Path) -> None:
    args = ("users", "add", "ana", "--role", "owner", "--password-stdin")
    result = _invoke(*args, "--db", str(tmp_path / "s.db"), input="")
    assert result.exit_code == 1
    assert "empty password" in result.stderr


def test_cli_datasets_assign(tmp_path: Path, settings: synthloop.Settings) -> None:
    db = str(tmp_path / "s.db")
    with synthloop.open(db) as store:
        store.create_dataset("support", settings)
        store.add_user("ana")
    ok = _invoke("datasets", "assign", "support", "ana", "--db", db, "--json")
    assert ok.exit_code == 0, ok.output
    assert orjson.loads(ok.stdout) == {"dataset": "support", "added": ["ana"], "members": ["ana"]}
    bad = _invoke("datasets", "assign", "support", "ana", "ghost", "--db", db)
    assert bad.exit_code == 1
    assert "'ghost'" in bad.stderr
    assert "synthloop users add" in bad.stderr
