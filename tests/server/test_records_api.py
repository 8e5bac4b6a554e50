"""Records over the API in process (TestClient): bulk import all or nothing, paging, export
byte for byte what the library writes, and creating datasets; on SQLite and PostgreSQL."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import orjson
import pyarrow.parquet as pq
import pytest
import yaml
from fastapi.testclient import TestClient

import synthloop
from helpers import dump, rich_rows
from synthloop.accounts import create_user
from synthloop.demo import SETTINGS
from synthloop.export.formats import WRITERS
from synthloop.records import SOURCES, STATUSES
from synthloop.server.app import create_app
from synthloop.server.schemas import ExportFormat, Source, Status


@pytest.fixture
def owner(db_url: str, settings: synthloop.Settings) -> str:
    with synthloop.open(db_url) as store:
        store.create_dataset("support", settings)
        return create_user(store, "own", "owner").token


@pytest.fixture
def api(db_url: str, owner: str) -> Iterator[TestClient]:
    headers = {"Authorization": f"Bearer {owner}"}
    with TestClient(create_app(db_url), headers=headers) as client:
        yield client


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def _post_jsonl(api: TestClient, rows: list[dict[str, Any]]) -> Any:
    headers = {"Content-Type": "application/x-ndjson; charset=utf-8"}
    return api.post("/api/datasets/support/records", content=_jsonl(rows), headers=headers)


def test_import_takes_json_or_jsonl_and_skips_what_is_there(api: TestClient, db_url: str) -> None:
    rows = rich_rows(30)
    first = api.post("/api/datasets/support/records", json=rows[:20])
    assert first.status_code == 200, first.text
    assert first.json() == {"rows": 20, "added": 20, "existing": 0, "repeated": 0}
    second = _post_jsonl(api, rows[10:])
    assert second.json() == {"rows": 20, "added": 10, "existing": 10, "repeated": 0}
    with synthloop.open(db_url) as store:
        assert dump(store.dataset("support")) == rows


def test_a_bad_batch_lists_every_problem_and_writes_nothing(api: TestClient, db_url: str) -> None:
    rows = [
        {"id": "a", "text": "fine", "reply": "fine"},
        {"id": "b", "text": 5, "reply": "x"},
        "not a row",
        {"id": "c", "text": "no reply"},
        {"id": "a", "text": "again", "reply": "x"},
    ]
    reply = api.post("/api/datasets/support/records", json=rows)
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["type"] == "import_failed"
    assert error["message"] == "import failed in the request body: 4 problems"
    assert [p["where"] for p in error["problems"]] == [f"record {i}" for i in range(2, 6)]
    assert "got str" in error["problems"][1]["message"]
    assert "'a' was already used at record 1" in error["problems"][3]["message"]
    jsonl = _jsonl([{"id": "x", "text": "t", "reply": "r"}]) + b"{broken\n"
    headers = {"Content-Type": "application/x-ndjson"}
    reply = api.post("/api/datasets/support/records", content=jsonl, headers=headers)
    assert reply.status_code == 422
    assert [p["where"] for p in reply.json()["error"]["problems"]] == ["line 2"]
    with synthloop.open(db_url) as store:
        assert store.dataset("support").count() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"[]", "application/json", 422, "holds no records"),
        (b"", "application/x-ndjson", 422, "is empty"),
        (b'{"id": "a"}', "application/json", 422, "expected a JSON array of rows, got dict"),
        (b"[{", "application/json", 422, "not valid JSON"),
        (b"[]", "text/csv", 415, "Content-Type 'text/csv' is not accepted"),
        (b"[]", "", 415, "application/x-ndjson"),
    ],
)
def test_bodies_that_hold_no_rows_are_refused(
    api: TestClient, body: bytes, content_type: str, status: int, says: str
) -> None:
    headers = {"Content-Type": content_type}
    reply = api.post("/api/datasets/support/records", content=body, headers=headers)
    assert reply.status_code == status
    assert says in reply.text


def test_paging_walks_every_record_once(api: TestClient) -> None:
    rows = rich_rows(25)
    api.post("/api/datasets/support/records", json=rows)
    seen, after, pages = [], 0, 0
    while after is not None:
        page = api.get("/api/datasets/support/records", params={"limit": 10, "after": after})
        body = page.json()
        seen += body["records"]
        after, pages = body["next_after"], pages + 1
        assert pages <= 4
    assert [r["external_id"] for r in seen] == [row["id"] for row in rows]
    assert [r["id"] for r in seen] == sorted(r["id"] for r in seen)
    assert {k: v for k, v in seen[3].items() if k not in ("id", "external_id")} == {
        k: v for k, v in rows[3].items() if k != "id"
    }
    queued = api.get("/api/datasets/support/records", params={"status": ["queued", "accepted"]})
    assert {r["status"] for r in queued.json()["records"]} == {"queued", "accepted"}
    too_many = api.get("/api/datasets/support/records", params={"limit": 1001})
    assert too_many.status_code == 422
    assert too_many.json()["error"]["problems"][0]["where"] == "query.limit"


@pytest.mark.parametrize("format", ["jsonl", "parquet"])
def test_export_is_the_file_the_library_writes(
    api: TestClient,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    format: str,
) -> None:
    api.post("/api/datasets/support/records", json=rich_rows(40))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    reply = api.get(
        "/api/datasets/support/records/export",
        params={"format": format, "status": ["queued", "accepted"]},
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-disposition"] == f'attachment; filename="support.{format}"'
    assert list(scratch.iterdir()) == []  # the server's copy is gone once sent
    mine = tmp_path / f"mine.{format}"
    with synthloop.open(db_url) as store:
        count = store.dataset("support").export(mine, format, status=["queued", "accepted"])
    assert reply.headers["x-record-count"] == str(count) != "0"
    got = tmp_path / f"got.{format}"
    got.write_bytes(reply.content)
    if format == "jsonl":
        assert got.read_bytes() == mine.read_bytes()
    else:
        assert pq.read_table(got).equals(pq.read_table(mine))


def test_create_dataset_then_read_it(api: TestClient) -> None:
    settings = yaml.safe_load(SETTINGS)
    made = api.post("/api/datasets", json={"name": "billing", "settings": settings})
    assert made.status_code == 201, made.text
    assert made.json()["settings"]["questions"][0]["name"] == "intent"
    assert made.json()["records"] == 0
    listed = api.get("/api/datasets").json()
    assert [d["name"] for d in listed] == ["billing", "support"]
    again = api.post("/api/datasets", json={"name": "billing", "settings": settings})
    assert again.status_code == 409
    assert again.json()["error"]["type"] == "dataset_exists"
    settings["distribution"] = {"overlap": 0}
    del settings["fields"]
    bad = api.post("/api/datasets", json={"name": "other", "settings": settings})
    assert bad.status_code == 422
    wheres = {p["where"] for p in bad.json()["error"]["problems"]}
    assert {"fields", "distribution.overlap"} <= wheres
    settings = yaml.safe_load(SETTINGS)
    named = api.post("/api/datasets", json={"name": "no spaces", "settings": settings})
    assert named.status_code == 400
    assert "'no spaces' is not valid" in named.json()["error"]["message"]


def test_the_api_offers_the_library_choices() -> None:
    assert get_args(Status) == STATUSES
    assert get_args(Source) == SOURCES
    assert get_args(ExportFormat) == tuple(WRITERS)
