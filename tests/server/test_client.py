"""synthloop.Client against a real `synthloop serve` over a socket: the whole loop (create, add,
queue, annotate, read back, export) and refusals as ApiError carrying the JSON error."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from live import serve

import synthloop
from helpers import read_jsonl, rich_rows
from synthloop.accounts import assign, create_user
from synthloop.client import ApiError, DatasetClient
from synthloop.demo import SETTINGS

ANSWER = {"intent": "delivery", "quality": 4}


@dataclass
class Site:
    url: str
    db: str
    tokens: dict[str, str]

    def client(self, user: str) -> synthloop.Client:
        return synthloop.Client(self.url, self.tokens[user])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One server for the module, on a store with an owner, a reviewer and an annotator."""
    folder = tmp_path_factory.mktemp("client")
    db = str(folder / "store.db")
    with synthloop.open(db) as store:
        tokens = {
            name: create_user(store, name, role).token
            for name, role in [("own", "owner"), ("rev", "reviewer"), ("ana", "annotator")]
        }
    with serve(db, folder / "server.log") as url:
        yield Site(url, db, tokens)


@pytest.fixture
def own(site: Site) -> Iterator[synthloop.Client]:
    with site.client("own") as client:
        yield client


def _new_dataset(site: Site, own: synthloop.Client, name: str) -> DatasetClient:
    """A dataset made over the API, with the reviewer and the annotator as members (membership
    is managed from the CLI or the library)."""
    dataset = own.create_dataset(name, synthloop.Settings.loads(SETTINGS))
    with synthloop.open(site.db) as store:
        assign(store, name, ["rev", "ana"])
    return dataset


def test_the_whole_loop(site: Site, own: synthloop.Client, tmp_path: Path) -> None:
    dataset = _new_dataset(site, own, "loop")
    first = synthloop.Record(fields={"text": "a Record object", "reply": "fine"}, external_id="c")
    rows = [first, *({"id": f"c{i}", "text": f"parcel {i}?", "reply": "soon"} for i in range(4))]
    assert dataset.add(rows) == {"rows": 5, "added": 5, "existing": 0, "repeated": 0}
    assert dataset.add(rows[:2])["existing"] == 2
    assert dataset.queue() == 5
    assert dataset.info()["by_status"] == {"queued": 5}
    with site.client("ana") as ana, site.client("rev") as rev:
        assert "loop" in [d["name"] for d in ana.datasets()]
        done = []
        while (record := ana.dataset("loop").next()) is not None:
            assert ana.submit(record["id"], ANSWER, duration=2.0)["user"] == "ana"
            done.append(record["external_id"])
            assert len(done) <= 5
        assert sorted(done) == ["c", "c0", "c1", "c2", "c3"]
        assert {r["user"] for r in ana.dataset("loop").responses()} == {"ana"}
        records = list(rev.dataset("loop").records(page_size=2))
        assert [r["external_id"] for r in records] == ["c", "c0", "c1", "c2", "c3"]
        assert all(r["responses"][0]["values"] == ANSWER for r in records)
        assert rev.dataset("loop").export(tmp_path / "loop.jsonl") == 5
    exported = read_jsonl(tmp_path / "loop.jsonl")
    assert [r["id"] for r in exported] == [r["external_id"] for r in records]
    assert dataset.export(tmp_path / "queued.parquet", status="queued") == 5
    assert pq.read_table(tmp_path / "queued.parquet").num_rows == 5


def test_a_big_add_streams_and_round_trips(
    site: Site, own: synthloop.Client, tmp_path: Path
) -> None:
    dataset = _new_dataset(site, own, "big")
    rows = rich_rows(3000)
    assert dataset.add(iter(rows))["added"] == 3000
    assert dataset.export(tmp_path / "big.jsonl") == 3000
    assert read_jsonl(tmp_path / "big.jsonl") == rows


def test_refusals_raise_api_error_with_the_servers_answer(
    site: Site, own: synthloop.Client, tmp_path: Path
) -> None:
    dataset = _new_dataset(site, own, "refusals")
    with pytest.raises(ApiError) as bad_rows:
        dataset.add([{"id": "a", "text": "ok", "reply": "ok"}, {"id": "b", "text": 1}])
    assert bad_rows.value.status == 422
    assert bad_rows.value.type == "import_failed"
    assert [p["where"] for p in bad_rows.value.problems] == ["line 2", "line 2"]
    assert "line 2: field 'reply' is required but missing" in str(bad_rows.value)
    assert dataset.info()["records"] == 0  # nothing was written
    with site.client("ana") as ana:
        with pytest.raises(ApiError) as forbidden:
            ana.dataset("refusals").export(tmp_path / "nope.jsonl")
        assert forbidden.value.status == 403
        assert forbidden.value.body["error"]["type"] == "forbidden"
        assert not list(tmp_path.iterdir())  # no file, not even a partial one
        with pytest.raises(ApiError) as answer:
            ana.submit(999_999, ANSWER)
        assert answer.value.status == 404
    with synthloop.Client(site.url, "not-a-token") as stranger, pytest.raises(ApiError) as who:
        stranger.datasets()
    assert who.value.status == 401
    assert "synthloop users token" in str(who.value)
