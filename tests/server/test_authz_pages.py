"""Who may open which page: every page route against every kind of browser session, on SQLite
and PostgreSQL. Like the API's matrix (test_authz.py), one row per route, one column per caller;
a test fails when a page route has no row. Pages answer 303 to /login without a session and an
HTML 403 page to a user whose role or membership does not allow them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pages_store import PASSWORD, login

import synthloop
from synthloop.accounts import assign, create_user
from synthloop.demo import SETTINGS
from synthloop.server.app import create_app
from synthloop.server.queue import enqueue, submit

CALLERS = ("owner", "reviewer", "annotator", "outsider", "anonymous")
D = "/datasets/support"
# `{record}`: a disputed record of the dataset.
# fmt: off
PAGES = [
    #  own rev ann out anon
    ("200 200 200 200 303", "GET", "/"),
    ("200 200 200 200 200", "GET", "/login"),
    ("200 200 200 403 303", "GET", f"{D}/annotate"),
    ("404 403 403 403 303", "GET", "/datasets/nope/annotate"),
    ("200 200 403 403 303", "GET", f"{D}/review"),
    ("200 200 403 403 303", "GET", f"{D}/review/{{record}}"),
    ("200 200 403 403 303", "GET", f"{D}/dashboard"),
    ("200 200 403 403 303", "GET", f"{D}/dashboard.json"),
    ("200 200 403 403 303", "GET", f"{D}/records"),
    ("200 200 403 403 303", "GET", f"{D}/records/{{record}}"),
]
# State-changing page routes, sent with the session's CSRF token (test_web_security.py shows
# them refused without it); `POST /login` needs no session and is tested there too.
POSTS = [
    ("303 303 403 403 303", "POST", f"{D}/review/{{record}}"),
    ("303 303 303 303 303", "POST", "/logout"),
]
# fmt: on


@pytest.fixture
def setup(db_url: str) -> tuple[str, int]:
    with synthloop.open(db_url) as store:
        settings = synthloop.Settings.loads(SETTINGS)
        strict = settings.distribution.model_copy(update={"agreement_threshold": 0.9})
        dataset = store.create_dataset(
            "support", settings.model_copy(update={"distribution": strict})
        )
        dataset.add([{"id": "d1", "text": "where is my refund?", "reply": "soon"}])
        enqueue(dataset)
        for name, role in [("owner", "owner"), ("reviewer", "reviewer"), ("annotator", "annotator"),
                           ("outsider", "annotator"), ("bo", "annotator")]:  # fmt: skip
            create_user(store, name, role, PASSWORD)
        assign(store, "support", ["reviewer", "annotator", "bo"])
        (record,) = dataset.records()
        # Two different answers at overlap 2: disputed, for the review pages.
        submit(dataset, record.id, "annotator", {"intent": "refund", "quality": 4})
        submit(dataset, record.id, "bo", {"intent": "delivery", "quality": 1})
    return db_url, int(record.id)


@pytest.fixture
def client(setup: tuple[str, int]) -> Iterator[TestClient]:
    with TestClient(create_app(setup[0])) as client:
        yield client


def _session(client: TestClient, caller: str) -> str:
    """Log `caller` in on this client (nothing for anonymous); their CSRF token."""
    client.cookies.clear()
    return "" if caller == "anonymous" else login(client, caller)


@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_gets_what_their_role_allows(
    client: TestClient, setup: tuple[str, int], caller: str
) -> None:
    record = setup[1]
    _session(client, caller)
    column = CALLERS.index(caller)
    for expect, method, path in PAGES:
        url = path.format(record=record)
        reply = client.request(method, url, follow_redirects=False)
        assert reply.status_code == int(expect.split()[column]), (caller, method, url)
        if reply.status_code == 403:
            assert "text/html" in reply.headers["content-type"]
            assert "may not" in reply.text
        if reply.status_code == 303 and caller == "anonymous":
            assert reply.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_may_post_only_what_their_role_allows(
    client: TestClient, setup: tuple[str, int], caller: str
) -> None:
    record = setup[1]
    column = CALLERS.index(caller)
    for expect, method, path in POSTS:
        token = _session(client, caller)  # fresh: the previous row may have logged out
        url = path.format(record=record)
        data = {"csrf_token": token, "q-intent": "refund", "q-quality": "4"}
        reply = client.request(method, url, data=data, follow_redirects=False)
        assert reply.status_code == int(expect.split()[column]), (caller, method, url, reply.text)


def test_every_page_route_has_a_row(client: TestClient) -> None:
    listed = {(method, path) for _, method, path in PAGES + POSTS}
    listed.add(("POST", "/login"))
    routes = {
        (method, route.path.replace("{name}", "support").replace("{record_id}", "{record}"))
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and not route.path.startswith("/api")
        for method in route.methods
        if route.path not in ("/metrics",)
    }
    routes = {(m, p.replace("/datasets/support", D)) for m, p in routes}
    assert routes <= listed | {(m, p.replace(D, "/datasets/nope")) for m, p in listed}, (
        routes - listed
    )
