"""Who may call what: every endpoint against every kind of caller, on SQLite and PostgreSQL.

The matrix is one table, ROUTES: a row per endpoint (and kind of body), a column per caller, each
cell the status that caller must get. Adding a route is one row; a test fails when an API route
has no row. Each row that submits gets queued records of its own, one per caller, and bodies name
the caller (`{caller}`), so no cell depends on another.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import yaml
from fastapi.testclient import TestClient

import synthloop
from synthloop.accounts import assign, create_user, rotate_token
from synthloop.demo import SETTINGS
from synthloop.server.app import create_app
from synthloop.server.queue import enqueue

# owner and reviewer/annotator members of 'support'; an annotator of no dataset; then the callers
# refused before any policy: no Authorization header, a real token under the wrong scheme, a token
# nobody holds, and the owner's token from before it was rotated.
CALLERS = (
    "owner",
    "reviewer",
    "annotator",
    "outsider",
    "anonymous",
    "malformed",
    "unknown",
    "rotated",
)

ANSWER = '{"values": {"intent": "refund", "quality": 4}}'
BAD_ANSWER = '{"values": {"intent": "nonsense", "quality": 9}}'
NEW_DATASET = orjson.dumps({"name": "new-{caller}", "settings": yaml.safe_load(SETTINGS)}).decode()
BAD_DATASET = '{"name": "bad-{caller}", "settings": {"fields": []}}'


@dataclass(frozen=True)
class Body:
    text: str  # `{caller}` becomes the caller's name, so each caller's rows are their own
    content_type: str = "application/json"


ROWS = Body('[{"id": "{caller}-1", "text": "hi", "reply": "hello"}]')
JSONL_ROWS = Body('{"id": "{caller}-2", "text": "hi", "reply": "hello"}\n', "application/x-ndjson")
BAD_ROWS = Body('[{"id": "{caller}-3", "text": 5}, 7]')
TEXT_ROWS = Body(ROWS.text, "text/plain")


@dataclass(frozen=True)
class Route:
    expect: str  # the status for each caller, in CALLERS order
    method: str
    path: str  # `{record}`: a queued record of this row's own for each caller
    body: Body | str | None = None

    def statuses(self) -> list[int]:
        return [int(status) for status in self.expect.split()]


S, NOPE = "/api/datasets/support", "/api/datasets/nope"
# Request validation (the shape of the query and body) comes before the policy, as FastAPI checks
# them before the handler runs: a malformed request is a 422 for any signed-in caller. It tells a
# non-member nothing about the dataset.
# fmt: off
ROUTES = [
    #     own rev ann out anon malf unkn rot
    Route("200 200 200 200 401 401 401 401", "GET",  "/api/datasets"),
    Route("201 403 403 403 401 401 401 401", "POST", "/api/datasets", NEW_DATASET),
    Route("422 403 403 403 401 401 401 401", "POST", "/api/datasets", BAD_DATASET),
    Route("200 200 200 403 401 401 401 401", "GET",  S),
    Route("404 403 403 403 401 401 401 401", "GET",  NOPE),
    Route("200 403 403 403 401 401 401 401", "POST", f"{S}/queue"),
    Route("200 403 403 403 401 401 401 401", "POST", f"{S}/queue", '{"status": "failed"}'),
    Route("422 422 422 422 401 401 401 401", "POST", f"{S}/queue", '{"status": "bogus"}'),
    Route("404 403 403 403 401 401 401 401", "POST", f"{NOPE}/queue"),
    Route("200 200 200 403 401 401 401 401", "GET",  f"{S}/next"),
    Route("404 403 403 403 401 401 401 401", "GET",  f"{NOPE}/next"),
    Route("200 200 200 403 401 401 401 401", "POST", "/api/records/{record}/responses", ANSWER),
    Route("422 422 422 403 401 401 401 401", "POST", "/api/records/{record}/responses", BAD_ANSWER),
    Route("404 404 404 404 401 401 401 401", "POST", "/api/records/999999/responses", ANSWER),
    Route("200 200 200 403 401 401 401 401", "GET",  f"{S}/responses"),
    Route("404 403 403 403 401 401 401 401", "GET",  f"{NOPE}/responses"),
    Route("200 403 403 403 401 401 401 401", "POST", f"{S}/records", ROWS),
    Route("200 403 403 403 401 401 401 401", "POST", f"{S}/records", JSONL_ROWS),
    Route("422 403 403 403 401 401 401 401", "POST", f"{S}/records", BAD_ROWS),
    Route("415 403 403 403 401 401 401 401", "POST", f"{S}/records", TEXT_ROWS),
    Route("404 403 403 403 401 401 401 401", "POST", f"{NOPE}/records", ROWS),
    Route("200 200 403 403 401 401 401 401", "GET",  f"{S}/records"),
    Route("422 422 422 422 401 401 401 401", "GET",  f"{S}/records?status=bogus"),
    Route("200 200 403 403 401 401 401 401", "GET",  f"{S}/records/export"),
    Route("200 200 403 403 401 401 401 401", "GET",  f"{S}/records/export?format=parquet"),
    Route("422 422 422 422 401 401 401 401", "GET",  f"{S}/records/export?format=csv"),
    Route("404 403 403 403 401 401 401 401", "GET",  f"{NOPE}/records/export"),
    Route("200 200 200 200 200 200 200 200", "GET",  "/metrics"),
    Route("200 200 200 200 200 200 200 200", "GET",  "/openapi.json"),
    Route("200 200 200 200 200 200 200 200", "GET",  "/docs"),
]
# fmt: on


@pytest.fixture
def callers(db_url: str) -> dict[str, dict[str, str]]:
    """The store for the matrix, and each caller's request headers."""
    settings = synthloop.Settings.loads(SETTINGS)
    with synthloop.open(db_url) as store:
        dataset = store.create_dataset("support", settings)
        dataset.add({"id": f"q{i}", "text": f"order {i}?", "reply": "soon"} for i in range(8))
        dataset.add(
            {"id": f"{row}-{caller}", "text": f"row {row}, {caller}", "reply": "ok"}
            for row, route in enumerate(ROUTES)
            if "{record}" in route.path
            for caller in CALLERS
        )
        enqueue(dataset)
        tokens = {
            name: create_user(store, name, role).token
            for name, role in [
                ("owner", "owner"),
                ("reviewer", "reviewer"),
                ("annotator", "annotator"),
                ("outsider", "annotator"),
            ]
        }
        assign(store, "support", ["reviewer", "annotator"])
        rotated = tokens["owner"]
        tokens["owner"] = rotate_token(store, "owner")
    headers = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
    headers["anonymous"] = {}
    headers["malformed"] = {"Authorization": f"Token {tokens['owner']}"}
    headers["unknown"] = {"Authorization": "Bearer not-a-token-anybody-holds"}
    headers["rotated"] = {"Authorization": f"Bearer {rotated}"}
    return headers


@pytest.fixture
def api(db_url: str, callers: dict[str, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app(db_url)) as client:
        yield client


def test_every_route_has_a_row() -> None:
    assert all(len(route.statuses()) == len(CALLERS) for route in ROUTES)
    listed = {(r.method, r.path.partition("?")[0]) for r in ROUTES}
    templates = {
        "/api/datasets/{name}": "/api/datasets/support",
        "/api/records/{record_id}": "/api/records/{record}",
    }
    for route in create_app(":memory:").routes:
        path = getattr(route, "path", "")
        if not path.startswith("/api"):
            continue
        for template, example in templates.items():
            path = path.replace(template, example)
        for method in getattr(route, "methods", ()):
            assert (method, path) in listed, f"{method} {path} has no row in ROUTES"


def test_authorization_matrix(
    api: TestClient, callers: dict[str, dict[str, str]], db_url: str
) -> None:
    records = _record_ids(db_url)
    wrong = []
    for row, route in enumerate(ROUTES):
        for caller, expected in zip(CALLERS, route.statuses(), strict=True):
            reply = _call(api, route, caller, callers[caller], records.get(f"{row}-{caller}"))
            if reply.status_code != expected:
                wrong.append(
                    f"{caller:>9} {route.method} {route.path}: {reply.status_code}, "
                    f"expected {expected}: {reply.text[:200]}"
                )
            elif expected >= 400 and route.path.startswith("/api"):
                _check_error(reply)
    assert not wrong, f"{len(wrong)} cells differ:\n" + "\n".join(wrong)


def test_annotators_never_see_other_peoples_responses(
    api: TestClient, callers: dict[str, dict[str, str]]
) -> None:
    annotator = callers["annotator"]
    record = api.get("/api/datasets/support/next", headers=annotator).json()
    draft = {"values": {"intent": "refund"}, "status": "draft"}
    assert _answer(api, annotator, record["id"], draft) == 200
    answer = {"values": {"intent": "other", "quality": 2}}
    assert _answer(api, callers["owner"], record["id"], answer) == 200
    # The annotator's lease comes back, carrying their own draft and nobody else's answer.
    again = api.get("/api/datasets/support/next", headers=annotator).json()
    assert again["id"] == record["id"]
    assert [r["user"] for r in again["responses"]] == ["annotator"]
    listed = api.get("/api/datasets/support/responses", headers=annotator).json()
    assert [r["user"] for r in listed] == ["annotator"]
    for reader in ("owner", "reviewer"):
        listed = api.get("/api/datasets/support/responses", headers=callers[reader]).json()
        assert sorted(r["user"] for r in listed) == ["annotator", "owner"]
        page = api.get("/api/datasets/support/records", headers=callers[reader]).json()
        held = next(r for r in page["records"] if r["id"] == record["id"])
        assert sorted(r["user"] for r in held["responses"]) == ["annotator", "owner"]
    for path in ("records", "records/export"):
        assert api.get(f"/api/datasets/support/{path}", headers=annotator).status_code == 403


def _record_ids(db_url: str) -> dict[str, int]:
    """Store id by external id (`{row}-{caller}` for the rows that submit)."""
    with synthloop.open(db_url) as store:
        return {r.external_id or "": r.id or 0 for r in store.dataset("support").records()}


def _call(
    api: TestClient, route: Route, caller: str, headers: dict[str, str], record: int | None
) -> Any:
    path = route.path.replace("{record}", str(record))
    if route.body is None:
        return api.request(route.method, path, headers=headers)
    body = Body(route.body) if isinstance(route.body, str) else route.body
    headers = {**headers, "Content-Type": body.content_type}
    content = body.text.replace("{caller}", caller).encode()
    return api.request(route.method, path, headers=headers, content=content)


def _check_error(reply: Any) -> None:
    body = reply.json()
    assert list(body) == ["error"], body
    assert set(body["error"]) == {"type", "message", "problems"}, body
    assert body["error"]["message"], body
    if reply.status_code == 401:
        assert reply.headers["www-authenticate"] == "Bearer"


def _answer(api: TestClient, headers: dict[str, str], record_id: int, body: Any) -> int:
    return api.post(f"/api/records/{record_id}/responses", json=body, headers=headers).status_code
