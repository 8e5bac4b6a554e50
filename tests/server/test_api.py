"""The annotation API in process (TestClient over a real SQLite store): leasing, submitting,
who may do what, and the one error shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

import synthloop
from synthloop.accounts import assign, create_user
from synthloop.server.app import create_app
from synthloop.server.queue import enqueue

ROWS = [{"id": f"r{i}", "text": f"where is my order {i}?", "reply": "on its way"} for i in range(3)]
ANSWER = {"intent": "delivery", "quality": 4}


@pytest.fixture
def tokens(tmp_path: Path, settings: synthloop.Settings) -> dict[str, str]:
    """A store with dataset 'support' (3 queued records, overlap 2) and one user per role;
    ana and bo are members, cy is an annotator of nothing."""
    with synthloop.open(tmp_path / "store.db") as store:
        dataset = store.create_dataset("support", settings)
        dataset.add(ROWS)
        enqueue(dataset)
        found = {
            name: create_user(store, name, role).token
            for name, role in [("ana", "annotator"), ("bo", "annotator"), ("cy", "annotator")]
        }
        found["rev"] = create_user(store, "rev", "reviewer").token
        found["own"] = create_user(store, "own", "owner").token
        assign(store, "support", ["ana", "bo", "rev"])
    return found


@pytest.fixture
def api(tmp_path: Path, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path / "store.db")) as client:
        yield client


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _submit(api: TestClient, token: str, record_id: int, **body: Any) -> Any:
    body.setdefault("values", ANSWER)
    return api.post(f"/api/records/{record_id}/responses", json=body, headers=_as(token))


def test_next_then_submit_until_nothing_is_left(api: TestClient, tokens: dict[str, str]) -> None:
    seen = []
    while (
        reply := api.get("/api/datasets/support/next", headers=_as(tokens["ana"]))
    ).status_code == 200:
        record = reply.json()
        assert {q["name"] for q in record["questions"]} >= {"intent", "quality"}
        assert record["fields"]["reply"] == "on its way"
        assert "guidelines" in record
        stored = _submit(api, tokens["ana"], record["id"], duration=3.5)
        assert stored.status_code == 200, stored.json()
        assert stored.json()["values"] == ANSWER
        assert stored.json()["user"] == "ana"
        seen.append(record["external_id"])
        assert len(seen) <= len(ROWS)
    assert reply.status_code == 204
    assert reply.content == b""
    assert sorted(seen) == ["r0", "r1", "r2"]
    mine = api.get("/api/datasets/support/responses", headers=_as(tokens["ana"])).json()
    assert [(r["external_id"], r["status"], r["duration"]) for r in mine] == [
        (f"r{i}", "submitted", 3.5) for i in range(3)
    ]


def test_the_same_lease_comes_back_until_answered(api: TestClient, tokens: dict[str, str]) -> None:
    first = api.get("/api/datasets/support/next", headers=_as(tokens["ana"])).json()
    again = api.get("/api/datasets/support/next", headers=_as(tokens["ana"])).json()
    assert first["id"] == again["id"]


@pytest.mark.parametrize(
    ("user", "method", "path", "status"),
    [
        (None, "GET", "/api/datasets/support/next", 401),
        ("bogus", "GET", "/api/datasets/support/next", 401),
        (None, "GET", "/api/datasets/support/responses", 401),
        ("cy", "GET", "/api/datasets/support/next", 403),  # annotator, not a member
        ("cy", "GET", "/api/datasets/support/responses", 403),
        ("cy", "POST", "/api/records/1/responses", 403),
        ("ana", "GET", "/api/datasets/support/next", 200),
        ("rev", "GET", "/api/datasets/support/next", 200),
        ("own", "GET", "/api/datasets/support/next", 200),  # owners need no membership
        ("own", "GET", "/api/datasets/nope/next", 404),
        ("ana", "GET", "/api/datasets/nope/next", 403),  # non-members learn nothing of it
    ],
)
def test_who_may_do_what(
    api: TestClient, tokens: dict[str, str], user: str | None, method: str, path: str, status: int
) -> None:
    headers = {} if user is None else _as(tokens.get(user, "not-a-token"))
    body = {"values": ANSWER} if method == "POST" else None
    reply = api.request(method, path, headers=headers, json=body)
    assert reply.status_code == status, reply.text
    if status == 401:
        assert reply.headers["www-authenticate"] == "Bearer"


def test_annotators_read_only_their_own_responses(api: TestClient, tokens: dict[str, str]) -> None:
    for name in ("ana", "bo"):
        record = api.get("/api/datasets/support/next", headers=_as(tokens[name])).json()
        assert _submit(api, tokens[name], record["id"]).status_code == 200
    for name in ("ana", "bo"):
        seen = api.get("/api/datasets/support/responses", headers=_as(tokens[name])).json()
        assert [r["user"] for r in seen] == [name]
    for name in ("rev", "own"):
        seen = api.get("/api/datasets/support/responses", headers=_as(tokens[name])).json()
        assert sorted(r["user"] for r in seen) == ["ana", "bo"]


def _error_kinds(api: TestClient, tokens: dict[str, str]) -> list[tuple[Any, int, str]]:
    ana = _as(tokens["ana"])
    record = api.get("/api/datasets/support/next", headers=ana).json()
    bad_values = {"values": {"intent": "nonsense", "quality": 9, "mood": "x"}}
    return [
        (api.get("/api/datasets/support/next"), 401, "unauthorized"),
        (api.get("/api/datasets/support/next", headers=_as(tokens["cy"])), 403, "forbidden"),
        (api.get("/api/datasets/nope/next", headers=_as(tokens["own"])), 404, "dataset_not_found"),
        (api.get("/api/nowhere", headers=ana), 404, "not_found"),
        (api.delete("/api/datasets/support/next", headers=ana), 405, "method_not_allowed"),
        (_submit(api, tokens["ana"], 999_999), 404, "record_not_found"),
        (_submit(api, tokens["ana"], record["id"], **bad_values), 422, "invalid_response"),
        (
            api.post("/api/records/x/responses", json={"status": "maybe"}, headers=ana),
            422,
            "invalid_request",
        ),
    ]


def test_every_error_has_the_one_shape(api: TestClient, tokens: dict[str, str]) -> None:
    for reply, status, kind in _error_kinds(api, tokens):
        assert reply.status_code == status, reply.text
        body = reply.json()
        assert list(body) == ["error"]
        assert set(body["error"]) == {"type", "message", "problems"}
        assert body["error"]["type"] == kind
        assert isinstance(body["error"]["message"], str)
        assert body["error"]["message"]
        for problem in body["error"]["problems"]:
            assert set(problem) == {"where", "message"}


def test_validation_lists_every_problem(api: TestClient, tokens: dict[str, str]) -> None:
    ana = _as(tokens["ana"])
    record = api.get("/api/datasets/support/next", headers=ana).json()
    reply = _submit(api, tokens["ana"], record["id"], values={"intent": "nonsense", "mood": "x"})
    wheres = [p["where"] for p in reply.json()["error"]["problems"]]
    assert wheres == ["question 'mood'", "question 'intent'", "question 'quality'"]
    reply = api.post("/api/records/x/responses", json={"status": "maybe"}, headers=ana)
    wheres = [p["where"] for p in reply.json()["error"]["problems"]]
    assert sorted(wheres) == ["body.status", "body.values", "path.record_id"]


def test_metrics_count_requests_queue_depth_and_submissions(
    api: TestClient, tokens: dict[str, str]
) -> None:
    record = api.get("/api/datasets/support/next", headers=_as(tokens["ana"])).json()
    _submit(api, tokens["ana"], record["id"])
    text = api.get("/metrics").text
    assert 'synthloop_queue_depth{dataset="support"} 3' in text
    assert 'synthloop_responses_total{status="submitted"} 1' in text
    assert (
        'synthloop_http_requests_total{method="GET",'
        'route="/api/datasets/{name}/next",status="200"} 1' in text
    )
    assert (
        'synthloop_http_request_seconds_count{method="POST",'
        'route="/api/records/{record_id}/responses"} 1' in text
    )


def test_openapi_docs_are_served(api: TestClient) -> None:
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    listed = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert listed >= {
        ("GET", "/api/datasets"),
        ("POST", "/api/datasets"),
        ("GET", "/api/datasets/{name}"),
        ("POST", "/api/datasets/{name}/queue"),
        ("GET", "/api/datasets/{name}/next"),
        ("GET", "/api/datasets/{name}/responses"),
        ("POST", "/api/records/{record_id}/responses"),
        ("POST", "/api/datasets/{name}/records"),
        ("GET", "/api/datasets/{name}/records"),
        ("GET", "/api/datasets/{name}/records/export"),
    }
    served = {
        (method, route.path)
        for route in api.app.routes  # type: ignore[attr-defined]
        if getattr(route, "path", "").startswith("/api")
        for method in getattr(route, "methods", ())
    }
    assert served <= listed, "every API route is documented"
    bulk = paths["/api/datasets/{name}/records"]["post"]["requestBody"]["content"]
    assert set(bulk) == {"application/json", "application/x-ndjson"}


def test_a_refusal_says_whether_assigning_would_help(
    api: TestClient, tokens: dict[str, str]
) -> None:
    outsider = api.get("/api/datasets/support/next", headers=_as(tokens["cy"])).json()
    assert "synthloop datasets assign support cy" in outsider["error"]["message"]
    reviewer = api.post("/api/datasets/support/queue", headers=_as(tokens["rev"])).json()
    assert "no reviewer may" in reviewer["error"]["message"]
    assert "assign" not in reviewer["error"]["message"]


def test_a_non_member_is_refused_alike_whether_the_dataset_exists(
    api: TestClient, tokens: dict[str, str]
) -> None:
    """next leaves the membership check to the queue's transaction; the refusal a non-member
    gets must still not tell an existing dataset from a missing one."""
    cy = _as(tokens["cy"])
    existing = api.get("/api/datasets/support/next", headers=cy)
    missing = api.get("/api/datasets/nope/next", headers=cy)
    assert existing.status_code == missing.status_code == 403
    assert existing.json() == orjson.loads(missing.content.replace(b"nope", b"support"))
