"""The annotate page in process (TestClient) on SQLite and PostgreSQL: every field and question
type rendered with suggestions, markdown made inert, who may open it, the empty state, reload
and undo (reopening one's own answer, never anyone else's)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pages_store import PASSWORD, login

import synthloop
from synthloop.accounts import assign, create_user
from synthloop.server.app import create_app
from synthloop.server.queue import enqueue, submit

EVERY_QUESTION = Path(__file__).with_name("every_question.yaml")
MESSAGE = "My order 😀 of 12 mugs\n  arrived <b>late</b>"
REPLY = (
    "**Sorry** for the wait.\n\n<script>alert('md')</script>\n\n[click](javascript:alert(1))\n\n"
    '<img src="https://evil.example/x.png" onerror="alert(2)">\n\n[docs](https://example.com/d)'
)
RECORD = {
    "id": "r1",
    "fields": {
        "text": MESSAGE,
        "reply": REPLY,
        "alternative": "We apologise for the delay.",
        "conversation": [
            {"role": "user", "content": "where is it <i>?"},
            {"role": "assistant", "content": "on its way"},
        ],
        "extra": {"order": 12, "note": "<b>bold</b>"},
    },
    "suggestions": {
        "intent": {"value": "delivery", "score": 0.87, "agent": "judge-<1>"},
        "claims": {"value": [{"start": 9, "end": 11, "label": "product"}], "agent": "ner"},
    },
}
ANSWER = {
    "intent": "refund",
    "topics": ["billing", "login"],
    "quality": 2,
    "order": ["terse", "formal", "friendly"],
    "better": ["alternative", "reply"],
    "corrected": "Sorry.",
    "claims": [{"start": 3, "end": 8, "label": "product"}],
}


@pytest.fixture
def web(db_url: str) -> Iterator[TestClient]:
    """Dataset 'every' (every question type, overlap 2) with RECORD queued; ana and bo are its
    annotators, cy an annotator of nothing, own the owner."""
    with synthloop.open(db_url) as store:
        dataset = store.create_dataset("every", synthloop.Settings.load(EVERY_QUESTION))
        dataset.add([RECORD])
        enqueue(dataset)
        for name, role in [("ana", "annotator"), ("bo", "annotator"), ("cy", "annotator")]:
            create_user(store, name, role, PASSWORD)
        create_user(store, "own", "owner", PASSWORD)
        assign(store, "every", ["ana", "bo"])
    with TestClient(create_app(db_url)) as client:
        yield client


class Page(HTMLParser):
    """The page's elements: tags with their attributes, the text under each data-testid, and
    the JSON state block."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)
        state = re.search(
            r'<script type="application/json" id="annotate-state">(.*?)</script>', html
        )
        assert state is not None
        self.state: dict[str, Any] = json.loads(state[1])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.tags.append((tag, found))
        if tag not in ("br", "hr", "input", "meta", "link", "img"):
            self._open.append((tag, found.get("data-testid")))
            if found.get("data-testid"):
                self.text.setdefault(found["data-testid"], "")

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        for _, testid in self._open:
            if testid:
                self.text[testid] += data

    def attrs(self, testid: str) -> dict[str, str]:
        return next(a for _, a in self.tags if a.get("data-testid") == testid)

    def has(self, testid: str) -> bool:
        return any(a.get("data-testid") == testid for _, a in self.tags)


def _page(client: TestClient, path: str = "/datasets/every/annotate") -> Page:
    reply = client.get(path)
    assert reply.status_code == 200, reply.text
    return Page(reply.text)


def _record_id(db_url: str) -> int:
    with synthloop.open(db_url) as store:
        (record,) = store.dataset("every").records()
        return int(record.id or 0)


def test_every_field_and_question_type_is_shown_with_its_suggestions(web: TestClient) -> None:
    login(web, "ana")
    page = _page(web)
    assert page.text["record-id"] == "r1"
    assert MESSAGE in page.text["field-text"]  # escaped, whitespace kept
    assert "where is it <i>?" in page.text["field-conversation"]
    bubbles = [a["data-role"] for tag, a in page.tags if a.get("class") == "bubble"]
    assert bubbles == ["user", "assistant"]
    assert '"note": "<b>bold</b>"' in page.text["field-extra"]  # pretty JSON, as text
    # The two-option ranking is an A/B comparison; its fields are shown side by side.
    assert "Sorry" in page.text["pair-better-A"]
    assert "We apologise" in page.text["pair-better-B"]
    assert not page.has("field-reply")
    assert not page.has("field-alternative")
    kinds = {q["name"]: q["kind"] for q in page.state["questions"]}
    assert kinds == {
        "intent": "label",
        "topics": "multi_label",
        "quality": "rating",
        "order": "ranking",
        "better": "pairwise",
        "corrected": "text",
        "note": "text",
        "claims": "span",
    }
    for name in kinds:
        assert page.has(f"question-{name}"), name
    for name, option in [("topics", "login"), ("quality", "5"), ("order", "terse")]:
        assert page.has(f"option-{name}-{option}")
    assert page.has("option-better-reply")
    assert page.has("option-better-alternative")


def test_suggestions_are_put_in_and_marked(web: TestClient) -> None:
    login(web, "ana")
    page = _page(web)
    badge = " ".join(page.text["suggestion-intent"].split())
    assert badge == "suggested · judge-<1> · 0.87"
    assert page.attrs("option-intent-delivery")["aria-checked"] == "true"
    assert "is-suggested" in page.attrs("option-intent-delivery")["class"]
    assert "suggested" in page.attrs("question-intent")["class"].split()
    questions = {q["name"]: q for q in page.state["questions"]}
    assert questions["claims"]["value"] == RECORD["suggestions"]["claims"]["value"]  # type: ignore[index]
    assert questions["claims"]["source"] == "suggestion"
    assert questions["claims"]["text"] == MESSAGE  # the exact text offsets count in
    assert questions["quality"]["value"] is None  # no suggestion: no answer yet
    assert not page.has("suggestion-quality")
    # The correction starts from its field, and the diff is against that field.
    assert questions["corrected"]["value"] == REPLY
    assert questions["corrected"]["original"] == REPLY
    assert page.has("diff-corrected")
    assert page.has("text-corrected")
    assert page.text["span-claims"] == MESSAGE


def test_markdown_is_sanitised_and_data_never_becomes_markup(web: TestClient) -> None:
    login(web, "ana")
    reply = web.get("/datasets/every/annotate")
    page = Page(reply.text)
    scripts = [a for tag, a in page.tags if tag == "script"]
    assert scripts == [
        {"type": "application/json", "id": "annotate-state"},
        {"type": "module", "src": "/static/js/annotate.js"},
    ]
    links = [a.get("href", "") for tag, a in page.tags if tag == "a"]
    assert "https://example.com/d" in links
    assert not [h for h in links if h.strip().lower().startswith("javascript")]
    assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)]
    assert not [
        tag for tag, _ in page.tags if tag in ("img", "iframe", "object", "embed", "b", "i")
    ]
    assert "&lt;b&gt;late&lt;/b&gt;" in reply.text
    assert "content-security-policy" in reply.headers


def test_guidelines_are_rendered_markdown(web: TestClient) -> None:
    login(web, "ana")
    page = _page(web)
    assert "How to answer" in page.text["guidelines"]
    assert ("details", {"class": "guidelines", "data-testid": "guidelines", "open": ""}) in (
        page.tags
    )


def test_a_reload_resumes_the_same_lease(web: TestClient) -> None:
    login(web, "ana")
    first = _page(web).state
    again = _page(web).state
    assert first["record"] == again["record"] is not None
    assert first["lease_expires"] == again["lease_expires"] is not None
    assert first["mode"] == "next"


def test_nothing_left_shows_the_empty_state(web: TestClient, db_url: str) -> None:
    with synthloop.open(db_url) as store:
        submit(store.dataset("every"), _record_id(db_url), "ana", ANSWER)
    login(web, "ana")
    page = _page(web)
    assert "Nothing left to annotate" in page.text["nothing-left"]
    assert page.state["record"] is None
    assert page.has("undo")  # the last submission can still be taken back from here


def test_undo_reopens_the_callers_own_answer(web: TestClient, db_url: str) -> None:
    record_id = _record_id(db_url)
    with synthloop.open(db_url) as store:
        submit(store.dataset("every"), record_id, "bo", {**ANSWER, "corrected": "bo's words"})
        submit(store.dataset("every"), record_id, "ana", ANSWER, status="draft")
    login(web, "ana")
    reply = web.get(f"/datasets/every/annotate?record={record_id}")
    page = Page(reply.text)
    assert page.has("undo-notice")
    assert page.state["mode"] == "undo"
    values = {q["name"]: q["value"] for q in page.state["questions"]}
    assert {k: values[k] for k in ANSWER} == ANSWER
    assert values["note"] is None  # not answered then: not filled from anywhere now
    assert page.attrs("option-intent-refund")["aria-checked"] == "true"
    assert page.attrs("option-intent-delivery")["aria-checked"] == "false"
    assert not page.has("suggestion-intent")  # the caller's answer, not the model's
    order = [a["data-testid"] for _, a in page.tags if "rank-item" in a.get("class", "")]
    assert order == ["option-order-terse", "option-order-formal", "option-order-friendly"]
    assert page.attrs("option-better-alternative")["aria-checked"] == "true"
    assert "bo's words" not in reply.text  # never another annotator's answer


@pytest.mark.parametrize("record", ["999999", "abc", "-1", "bo"])
def test_only_records_the_caller_answered_reopen(web: TestClient, db_url: str, record: str) -> None:
    if record == "bo":  # answered by someone else only
        record = str(_record_id(db_url))
        with synthloop.open(db_url) as store:
            submit(store.dataset("every"), int(record), "bo", ANSWER)
    login(web, "ana")
    reply = web.get(f"/datasets/every/annotate?record={record}")
    assert reply.status_code == 404
    assert "nothing of yours to reopen" in reply.text


def test_a_decided_record_reopens_read_only(web: TestClient, db_url: str) -> None:
    record_id = _record_id(db_url)
    with synthloop.open(db_url) as store:
        dataset = store.dataset("every")
        submit(dataset, record_id, "bo", ANSWER)
        submit(dataset, record_id, "ana", ANSWER)  # the overlap is reached and both agree
        assert dataset.records_by_id([record_id])[0].status == "accepted"
    login(web, "ana")
    page = _page(web, f"/datasets/every/annotate?record={record_id}")
    assert "accepted" in page.text["locked-notice"]
    assert "disabled" in page.attrs("submit")


def test_the_page_submits_through_the_api_with_the_session(web: TestClient) -> None:
    csrf = login(web, "ana")
    record_id = _page(web).state["record"]
    url = f"/api/records/{record_id}/responses"
    refused = web.post(url, json={"values": ANSWER})
    assert refused.status_code == 403  # a cookie alone does not write
    stored = web.post(url, json={"values": ANSWER}, headers={"X-CSRF-Token": csrf})
    assert stored.status_code == 200, stored.text
    assert "nothing-left" in _page(web).text


def test_not_logged_in_goes_to_login_and_back(web: TestClient) -> None:
    reply = web.get("/datasets/every/annotate", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=%2Fdatasets%2Fevery%2Fannotate"


@pytest.mark.parametrize(
    ("user", "dataset", "status"),
    [("cy", "every", 403), ("cy", "nope", 403), ("own", "every", 200), ("own", "nope", 404)],
)
def test_who_may_open_it(web: TestClient, user: str, dataset: str, status: int) -> None:
    login(web, user)
    reply = web.get(f"/datasets/{dataset}/annotate")
    assert reply.status_code == status
    assert reply.headers["content-type"].startswith("text/html")
    if status == 403:
        assert "may not annotate" in reply.text
