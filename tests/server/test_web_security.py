"""Sessions, CSRF, headers and sanitised markdown, in process over real stores."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from pages_store import PASSWORD, login, login_form_token

import synthloop
from synthloop.accounts import assign, create_user
from synthloop.server.app import create_app
from synthloop.server.queue import enqueue
from synthloop.server.render import markdown
from synthloop.server.security import CSP


@pytest.fixture
def web(db_url: str, settings: synthloop.Settings) -> Iterator[TestClient]:
    with synthloop.open(db_url) as store:
        dataset = store.create_dataset("support", settings)
        dataset.add([{"id": "r1", "text": "where is my order?", "reply": "soon"}])
        enqueue(dataset)
        create_user(store, "ana", "annotator", PASSWORD)
        assign(store, "support", ["ana"])
    with TestClient(create_app(db_url)) as client:
        yield client


def test_pages_need_a_session_and_come_back_after_login(web: TestClient) -> None:
    reply = web.get("/?sort=name", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=%2F%3Fsort%3Dname"


def test_the_session_cookie_is_httponly_and_samesite(web: TestClient) -> None:
    token = login_form_token(web)
    data = {"username": "ana", "password": PASSWORD, "csrf_token": token}
    reply = web.post("/login", data=data, follow_redirects=False)
    cookie = next(v for k, v in reply.headers.multi_items() if k == "set-cookie" and "session" in v)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_a_form_post_without_the_csrf_token_is_refused(web: TestClient) -> None:
    login(web, "ana")
    reply = web.post("/logout", data={}, follow_redirects=False)
    assert reply.status_code == 403
    assert reply.json()["error"]["type"] == "forbidden"
    assert web.get("/", follow_redirects=False).status_code == 200  # still logged in


def test_a_form_post_with_a_wrong_csrf_token_is_refused(web: TestClient) -> None:
    login(web, "ana")
    reply = web.post("/logout", data={"csrf_token": "guess"}, follow_redirects=False)
    assert reply.status_code == 403


def test_a_form_post_with_the_csrf_token_goes_through(web: TestClient) -> None:
    token = login(web, "ana")
    reply = web.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert reply.status_code == 303
    assert web.get("/", follow_redirects=False).status_code == 303  # logged out


def test_api_writes_from_a_session_need_the_csrf_header(web: TestClient) -> None:
    token = login(web, "ana")
    record = web.get("/api/datasets/support/next").json()
    body = {"values": {"intent": "delivery", "quality": 4}}
    url = f"/api/records/{record['id']}/responses"
    assert web.post(url, json=body).status_code == 403
    assert web.post(url, json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert web.post(url, json=body, headers={"X-CSRF-Token": token}).status_code == 200


def test_a_login_form_without_its_own_token_is_refused(web: TestClient) -> None:
    data = {"username": "ana", "password": PASSWORD, "csrf_token": "forged"}
    reply = web.post("/login", data=data, follow_redirects=False)
    assert reply.status_code == 400
    assert "form expired" in reply.text


def test_a_wrong_password_says_nothing_about_which_part(web: TestClient) -> None:
    for username in ("ana", "nobody"):
        token = login_form_token(web)
        data = {"username": username, "password": "wrong password", "csrf_token": token}
        reply = web.post("/login", data=data)
        assert reply.status_code == 400
        assert "Unknown user name or wrong password." in reply.text


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_login_never_forwards_to_another_site(web: TestClient, target: str) -> None:
    token = login_form_token(web)
    data = {"username": "ana", "password": PASSWORD, "csrf_token": token, "next": target}
    reply = web.post("/login", data=data, follow_redirects=False)
    assert reply.headers["location"] == "/"


def test_pages_send_the_content_security_policy(web: TestClient) -> None:
    reply = web.get("/login")
    assert reply.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"


class _Tags(HTMLParser):
    """The elements and attributes a browser would build from some HTML."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[x](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "[x](JaVaScRiPt:alert(1))",
        "![pixel](https://evil.example/p.png)",
        "<iframe src=//evil.example>",
        '<a href="https://ok.example" onclick="alert(1)">x</a>',
        "<svg><script>alert(1)</script></svg>",
    ],
)
def test_markdown_comes_out_inert(text: str) -> None:
    for tag, attrs in _Tags(str(markdown(text))).found:
        assert tag in {"p", "a", "em", "strong", "h1", "code"}, tag
        for name, value in attrs:
            assert not name.startswith("on"), name
            assert not (value or "").lower().startswith("javascript"), value


def test_markdown_keeps_formatting_and_safe_links() -> None:
    html = str(markdown("**bold** and [docs](https://example.com)\n\n- one\n- two"))
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">docs</a>' in html
    assert "<li>one</li>" in html
