"""A store for the review, dashboard and records page tests: dataset 'support' (overlap 2,
agreement threshold 0.7) whose records sit in every state a reviewer meets, one user per role,
and logging a TestClient in through the form."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

import synthloop
from synthloop.accounts import assign, create_user
from synthloop.demo import SETTINGS
from synthloop.server.queue import enqueue, submit

PASSWORD = "a good password"
# A payload in a field, an id and an answer: the pages must show it as text.
PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
USERS = {
    "ana": "annotator",
    "bo": "annotator",
    "cy": "annotator",  # a member of nothing
    "rev": "reviewer",
    "rex": "reviewer",  # a member of nothing
    "own": "owner",
}
MEMBERS = ["ana", "bo", "rev"]

ROWS: list[dict[str, Any]] = [
    {"id": "d1", "text": f"where is my refund? {PAYLOAD}", "reply": f"**soon** {PAYLOAD}"},
    {"id": "d2", "text": "my parcel is late", "reply": "sorry", "priority": 5},
    {"id": "d3", "text": "cannot log in", "reply": "reset it"},
    {"id": "a1", "text": "refund please", "reply": "done"},
    {"id": "q1", "text": "gift cards?", "reply": "yes", "metadata": {"channel": "chat"}},
    {
        "id": "x1",
        "text": "where is my refund?",
        "reply": "soon",
        "status": "rejected",
        "reason": "near-duplicate of d1",
        "provenance": {"source": "synthetic"},
        "suggestions": {"intent": {"value": "refund", "score": 0.9, "agent": "rules"}},
    },
]
# Per record: ana's and bo's answers; d* disagree on intent (disputed), a1 agrees (accepted).
ANSWERS = {
    "d1": ({"intent": "refund", "quality": 4}, {"intent": "delivery", "quality": 2}),
    "d2": ({"intent": "delivery", "quality": 3}, {"intent": "other", "quality": 3}),
    "d3": ({"intent": "account", "quality": 5}, {"intent": "other", "quality": 1}),
    "a1": ({"intent": "refund", "quality": 4}, {"intent": "refund", "quality": 5}),
}


def settings() -> synthloop.Settings:
    return synthloop.Settings.loads(
        SETTINGS.replace("{overlap: 2}", "{overlap: 2, agreement_threshold: 0.7}")
    )


def build(db_url: str) -> dict[str, int]:
    """Create the store; returns the store id of each record by external id."""
    with synthloop.open(db_url) as store:
        dataset = store.create_dataset("support", settings())
        dataset.add(ROWS)
        enqueue(dataset)
        for name, role in USERS.items():
            create_user(store, name, role, PASSWORD)
        assign(store, "support", MEMBERS)
        ids = {str(r.external_id): int(r.id or 0) for r in dataset.records()}
        for external_id, (first, second) in ANSWERS.items():
            submit(dataset, ids[external_id], "ana", first, duration=12.0)
            submit(dataset, ids[external_id], "bo", second)
        submit(dataset, ids["q1"], "ana", {"intent": "other"}, status="draft")
    return ids


def login_form_token(client: TestClient) -> str:
    """The CSRF token of a fresh login form (its cookie is now on the client)."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    return token[1]


def login(client: TestClient, username: str) -> str:
    """Log in through the form; returns the session's CSRF token."""
    data = {"username": username, "password": PASSWORD, "csrf_token": login_form_token(client)}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/").text)
    assert meta is not None
    return meta[1]


def record_links(html: str, dataset: str, page: str) -> list[int]:
    """The record ids a page links to under /datasets/DATASET/PAGE/ID, in order."""
    return [int(x) for x in re.findall(rf'href="/datasets/{dataset}/{page}/(\d+)"', html)]
