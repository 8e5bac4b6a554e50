"""Backup and restore: a store with answers, suggestions, accounts and a version comes back the
same on SQLite, on PostgreSQL and from one to the other; a changed file and a full store are
refused before anything is written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

import synthloop
from helpers import dump, rich_rows
from synthloop.accounts.credentials import authenticate, create_user, user_for_token
from synthloop.accounts.membership import assign
from synthloop.backup import BackupError, backup, restore
from synthloop.cli.backup import backup as backup_command
from synthloop.cli.backup import restore as restore_command
from synthloop.export.versions import create_version, list_versions, version_records
from synthloop.quality.dataset import decide
from synthloop.store import tables as t

runner = CliRunner()


def _filled(store: synthloop.Store, settings: synthloop.Settings) -> dict[str, str]:
    """A dataset with suggestions, responses, decisions, a version and accounts; the logins."""
    dataset = store.create_dataset("support", settings)
    dataset.add(rich_rows(40))
    store.add_user("ben", "reviewer")
    owner = create_user(store, "olga", "owner", password="correct horse")
    assign(store, "support", ["ana", "ben"])
    decide(dataset, method="majority")
    create_version(store, "support", tag="first")
    with store.engine.begin() as conn:
        conn.execute(t.generation_cache.insert().values(key="k" * 64, completion='{"text": "hi"}'))
    return {"password": "correct horse", "token": owner.token}


def _state(store: synthloop.Store) -> dict[str, Any]:
    """Everything a user of the store can see, in comparable form."""
    dataset = store.dataset("support")
    with store.engine.connect() as conn:
        users = conn.execute(
            select(t.users.c.username, t.users.c.role).order_by(t.users.c.username)
        ).all()
        members = conn.execute(
            select(t.users.c.username)
            .join(t.memberships, t.memberships.c.user_id == t.users.c.id)
            .order_by(t.users.c.username)
        ).all()
        cache = conn.execute(select(t.generation_cache.c.key, t.generation_cache.c.completion))
        cached = cache.all()
    versions = list_versions(store, "support")
    return {
        "settings": dataset.settings.to_dict(),
        "records": dump(dataset),
        "users": [tuple(u) for u in users],
        "members": [m[0] for m in members],
        "versions": [(v.number, v.tag, v.content_hash, v.record_count) for v in versions],
        "frozen": [r.to_dict() for r in version_records(store, "support", 1)],
        "cache": [tuple(c) for c in cached],
    }


def _check_same(before: dict[str, Any], target: synthloop.Store, logins: dict[str, str]) -> None:
    after = _state(target)
    assert after["records"] == before["records"]
    assert any(r["responses"] for r in after["records"])
    assert any(r["suggestions"] for r in after["records"])
    assert after == before
    assert after["versions"]
    assert after["frozen"]
    found = authenticate(target, "olga", logins["password"])
    assert found is not None
    assert found.role == "owner"
    assert user_for_token(target, logins["token"]) is not None


def _fresh_store(
    kind: str, tmp_path: Path, new_postgres_url: Callable[[], str]
) -> Iterator[synthloop.Store]:
    where = str(tmp_path / "target.db") if kind == "sqlite" else new_postgres_url()
    with synthloop.open(where) as store:
        yield store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(
    request: pytest.FixtureRequest, tmp_path: Path, new_postgres_url: Callable[[], str]
) -> Iterator[synthloop.Store]:
    """An empty store to restore into, on either database."""
    yield from _fresh_store(request.param, tmp_path, new_postgres_url)


def test_a_backup_restores_the_same_store(
    store: synthloop.Store, target: synthloop.Store, settings: synthloop.Settings, tmp_path: Path
) -> None:
    # The store fixture runs on both databases and so does the target: four pairs, SQLite to
    # PostgreSQL among them.
    logins = _filled(store, settings)
    before = _state(store)
    report = backup(store, tmp_path / "bk")
    assert report.counts["records"] == 40
    assert report.counts["versions"] == 1
    manifest = orjson.loads((tmp_path / "bk" / "manifest.json").read_bytes())
    assert manifest["format"] == 1
    assert manifest["tables"]["responses"]["rows"] > 0

    restored = restore(target, tmp_path / "bk")
    assert restored.counts == report.counts
    _check_same(before, target, logins)


def test_a_restored_store_keeps_working(
    sqlite_store: synthloop.Store,
    target: synthloop.Store,
    settings: synthloop.Settings,
    tmp_path: Path,
) -> None:
    # New rows after a restore get ids after the restored ones (PostgreSQL's sequences moved on).
    _filled(sqlite_store, settings)
    restore(target, backup(sqlite_store, tmp_path / "bk").path)
    target.dataset("support").add([{"id": "new-1", "text": "hello", "reply": "hi"}])
    create_user(target, "newbie", "annotator")
    target.create_dataset("other", settings)
    assert target.dataset("support").count() == 41


def test_a_changed_file_is_refused_by_its_hash(
    sqlite_store: synthloop.Store, settings: synthloop.Settings, tmp_path: Path
) -> None:
    _filled(sqlite_store, settings)
    folder = backup(sqlite_store, tmp_path / "bk").path
    path = folder / "records.jsonl"
    original = path.read_bytes()
    path.write_bytes(original.replace(b"Customer", b"Kustomer", 1))
    assert path.read_bytes() != original
    with synthloop.open(tmp_path / "target.db") as target:
        with pytest.raises(BackupError, match=r"records\.jsonl.*sha256.*changed after the backup"):
            restore(target, folder)
        assert target.datasets() == []


def test_a_store_that_holds_anything_is_refused(
    sqlite_store: synthloop.Store, settings: synthloop.Settings, tmp_path: Path
) -> None:
    _filled(sqlite_store, settings)
    folder = backup(sqlite_store, tmp_path / "bk").path
    with synthloop.open(tmp_path / "target.db") as target:
        target.add_user("someone")
        with pytest.raises(BackupError, match=r"not empty \(1 users\).*empty store"):
            restore(target, folder)
        assert [d.name for d in target.datasets()] == []


def test_backup_refuses_a_folder_in_use_and_restore_a_folder_without_manifest(
    sqlite_store: synthloop.Store, tmp_path: Path
) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(BackupError, match=r"not empty.*another --out"):
        backup(sqlite_store, tmp_path / "used")
    with pytest.raises(BackupError, match=r"manifest\.json"):
        restore(sqlite_store, tmp_path / "used")


def test_without_the_cache(
    sqlite_store: synthloop.Store, settings: synthloop.Settings, tmp_path: Path
) -> None:
    _filled(sqlite_store, settings)
    report = backup(sqlite_store, tmp_path / "bk", cache=False)
    assert "generation_cache" not in report.counts
    assert not (tmp_path / "bk" / "generation_cache.jsonl").exists()


def test_the_commands(settings: synthloop.Settings, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    source, target = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    with synthloop.open(source) as store:
        _filled(store, settings)
        before = _state(store)
    done = runner.invoke(app, ["backup", "--out", str(tmp_path / "bk"), "--db", source, "--json"])
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout)["counts"]["records"] == 40
    done = runner.invoke(app, ["restore", str(tmp_path / "bk"), "--db", target])
    assert done.exit_code == 0, done.output
    assert "records" in done.stdout
    assert "40" in done.stdout
    with synthloop.open(target) as store:
        assert _state(store) == before
    again = runner.invoke(app, ["restore", str(tmp_path / "bk"), "--db", target, "--json"])
    assert again.exit_code == 1
    assert orjson.loads(again.stdout)["error"]["type"] == "BackupError"
