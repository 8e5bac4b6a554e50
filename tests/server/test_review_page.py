"""The review page in process (TestClient) on SQLite and PostgreSQL: the disputed list in
review order, one record with every answer side by side and its agreement, saving a final
answer (reviewer or owner: accepted, decided_by names them, then the next disputed record),
problems shown with nothing saved, who may open it, and payloads shown as text."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pages_store import ESCAPED, PAYLOAD, build, login, record_links

import synthloop
from synthloop.server.app import create_app


@pytest.fixture
def ids(db_url: str) -> dict[str, int]:
    return build(db_url)


@pytest.fixture
def web(db_url: str, ids: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(create_app(db_url)) as client:
        yield client


def _record(db_url: str, record_id: int) -> synthloop.Record:
    with synthloop.open(db_url) as store:
        return store.dataset("support").records_by_id([record_id])[0]


def _text(page: str) -> str:
    """The page's text, tags dropped, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _save(web: TestClient, csrf: str, record_id: int, **answers: Any) -> Any:
    data = {"csrf_token": csrf, **{f"q-{k}": v for k, v in answers.items()}}
    return web.post(f"/datasets/support/review/{record_id}", data=data, follow_redirects=False)


def test_the_list_shows_disputed_records_by_priority_then_newest(
    web: TestClient, ids: dict[str, int]
) -> None:
    login(web, "rev")
    reply = web.get("/datasets/support/review")
    assert reply.status_code == 200
    assert record_links(reply.text, "support", "review") == [ids["d2"], ids["d3"], ids["d1"]]
    text = _text(reply.text)
    assert "3 disputed" in text
    assert "question 'intent' confidence 0.500 is below the threshold 0.7" in text
    first = web.get("/datasets/support/review?limit=2")
    assert record_links(first.text, "support", "review") == [ids["d2"], ids["d3"]]
    following = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert following is not None
    rest = web.get(html.unescape(following[1]))
    assert record_links(rest.text, "support", "review") == [ids["d1"]]
    assert 'rel="next"' not in rest.text


def test_a_record_shows_every_answer_side_by_side_with_agreement(
    web: TestClient, ids: dict[str, int]
) -> None:
    login(web, "rev")
    reply = web.get(f"/datasets/support/review/{ids['d1']}")
    assert reply.status_code == 200
    page = reply.text
    heads = re.findall(r'<span class="annotator">([^<]+)</span>', page)
    assert heads == ["ana", "bo"]
    assert re.findall(r'<span class="answer-meta">submitted · <time datetime="[^"]+">', page)
    assert "12 s" in page  # ana's time spent
    row = re.search(r'<th scope="row">intent</th>(.*?)</tr>', page, re.S)
    assert row is not None
    assert re.findall(r'<div class="answer-line">([^<]*)</div>', row[1]) == ["refund", "delivery"]
    assert "1 of 2 (50%)" in _text(row[1])
    assert "no majority" in _text(row[1])
    assert page.count('class="use-answer"') == 2
    assert 'data-use="1" aria-keyshortcuts="2"' in page
    # the answers the script copies, as a JSON data block (not executed), in column order
    block = re.search(r'<script type="application/json" id="review-answers">(.*?)</script>', page)
    assert block is not None
    assert json.loads(block[1]) == [
        {"user": "ana", "values": {"intent": "refund", "quality": 4}},
        {"user": "bo", "values": {"intent": "delivery", "quality": 2}},
    ]
    assert '<script type="module" src="/static/js/review.js"></script>' in page
    # J/K neighbours in the review order d2, d3, d1
    assert f'id="previous-record" href="/datasets/support/review/{ids["d3"]}"' in page
    assert 'id="next-record"' not in page


def test_a_reviewers_save_is_final_and_opens_the_next_disputed_record(
    web: TestClient, db_url: str, ids: dict[str, int]
) -> None:
    csrf = login(web, "rev")
    reply = _save(
        web,
        csrf,
        ids["d2"],
        intent="account",
        quality="5",
        topics="login",
        **{"better-rank-0": "2", "better-rank-1": "1"},
        corrected_reply="line one\r\nline two",
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/datasets/support/review/{ids['d3']}?saved=d2"
    record = _record(db_url, ids["d2"])
    expected = {
        "intent": "account",
        "quality": 5,
        "topics": ["login"],
        "better": ["alternative", "reply"],
        "corrected_reply": "line one\nline two",
    }
    assert record.status == "accepted"
    assert record.final == expected
    assert record.metadata["decided_by"] == "reviewer:rev"
    assert [r.values for r in record.responses if r.user == "rev"] == [expected]
    following = web.get(reply.headers["location"])
    assert "Saved the final answer of record “d2”" in following.text
    assert record_links(web.get("/datasets/support/review").text, "support", "review") == [
        ids["d3"],
        ids["d1"],
    ]


def test_an_owners_save_is_final_too_and_the_last_one_returns_to_the_list(
    web: TestClient, db_url: str, ids: dict[str, int]
) -> None:
    csrf = login(web, "own")
    # d1 is last in the review order (d2, d3, d1): the next one is the first again
    reply = _save(web, csrf, ids["d1"], intent="refund", quality="3")
    assert reply.headers["location"] == f"/datasets/support/review/{ids['d2']}?saved=d1"
    reply = _save(web, csrf, ids["d2"], intent="other", quality="1")
    assert reply.headers["location"] == f"/datasets/support/review/{ids['d3']}?saved=d2"
    reply = _save(web, csrf, ids["d3"], intent="other", quality="1")
    assert reply.headers["location"] == "/datasets/support/review?saved=d3"
    for name in ("d1", "d2", "d3"):
        record = _record(db_url, ids[name])
        assert record.status == "accepted"
        assert record.metadata["decided_by"] == "reviewer:own"
    assert _record(db_url, ids["d1"]).final == {"intent": "refund", "quality": 3}
    assert "No disputed records are left." in _text(web.get(reply.headers["location"]).text)


def test_an_answer_with_problems_is_shown_again_and_nothing_is_saved(
    web: TestClient, db_url: str, ids: dict[str, int]
) -> None:
    csrf = login(web, "rev")
    reply = _save(
        web,
        csrf,
        ids["d1"],
        quality="lots",
        claims="[oops",
        corrected_reply=PAYLOAD,
        **{"better-rank-0": "1", "better-rank-1": "1"},
    )
    assert reply.status_code == 422
    problems = [html.unescape(p) for p in re.findall(r"<li>(.*?)</li>", reply.text)]
    assert problems == [
        "question 'quality': rating 'lots' is not a whole number",
        "question 'better': give each of ['reply', 'alternative'] a different rank from 1 to 2 "
        "(1 = best), or leave all of them empty",
        "question 'claims': spans must be a JSON list of {start, end, label}: unexpected "
        "character, expected a JSON value: line 1 column 2 (char 1)",
        "question 'intent': is required to submit; answer it",
    ]
    assert (
        f'<textarea name="q-corrected_reply" rows="5" aria-label="corrected_reply">{ESCAPED}'
        in reply.text
    )
    assert (
        'class="json" rows="3" aria-label="claims (JSON)" aria-describedby="hint-claims">[oops'
        in reply.text
    )
    # the library's checks come back the same way
    invalid = _save(web, csrf, ids["d1"], intent="nope", quality="9")
    assert invalid.status_code == 422
    assert "question &#39;intent&#39;: label &#39;nope&#39; is not one of" in invalid.text
    assert "question &#39;quality&#39;: rating 9 is not one of [1, 2, 3, 4, 5]" in invalid.text
    record = _record(db_url, ids["d1"])
    assert record.status == "disputed"
    assert [r.user for r in record.responses] == ["ana", "bo"]


def test_a_settled_record_is_shown_without_an_editor_and_refuses_a_save(
    web: TestClient, ids: dict[str, int]
) -> None:
    csrf = login(web, "rev")
    page = web.get(f"/datasets/support/review/{ids['a1']}").text
    assert 'id="review-form"' not in page
    assert "review.js" not in page
    assert "it takes no more answers" in _text(page)
    assert "Decided by aggregate:majority" in _text(page)
    reply = _save(web, csrf, ids["a1"], intent="other", quality="1")
    assert reply.status_code == 409
    assert "is accepted and takes no answers" in html.unescape(reply.text)


def test_annotators_and_non_members_may_not_review(web: TestClient, ids: dict[str, int]) -> None:
    for user in ("ana", "cy", "rex"):
        csrf = login(web, user)
        for reply in (
            web.get("/datasets/support/review"),
            web.get(f"/datasets/support/review/{ids['d1']}"),
            _save(web, csrf, ids["d1"], intent="refund", quality="1"),
        ):
            assert reply.status_code == 403
            assert reply.headers["content-type"].startswith("text/html")
            assert "may not review in dataset &#39;support&#39;" in reply.text
            assert "refund" not in reply.text  # nothing of the record or its answers


def test_logged_out_is_sent_to_log_in_and_a_save_needs_the_csrf_token(
    web: TestClient, db_url: str, ids: dict[str, int]
) -> None:
    reply = web.get(f"/datasets/support/review/{ids['d1']}", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/login?next=%2Fdatasets%2Fsupport%2Freview%2F{ids['d1']}"
    login(web, "rev")
    forged = _save(web, "not-the-token", ids["d1"], intent="refund", quality="1")
    assert forged.status_code == 403
    assert _record(db_url, ids["d1"]).status == "disputed"


def test_unknown_datasets_and_records_are_404_pages(web: TestClient, ids: dict[str, int]) -> None:
    login(web, "own")
    assert web.get("/datasets/nope/review").status_code == 404
    missing = web.get("/datasets/support/review/999999")
    assert missing.status_code == 404
    assert "record 999999 is not a record of dataset" in html.unescape(missing.text)


def test_payloads_in_fields_and_answers_render_as_text(
    web: TestClient, db_url: str, ids: dict[str, int]
) -> None:
    csrf = login(web, "rev")
    with synthloop.open(db_url) as store:
        from synthloop.server.queue import submit

        dataset = store.dataset("support")
        submit(dataset, ids["d1"], "rev", {"intent": "refund", "corrected_reply": PAYLOAD}, "draft")
    page = web.get(f"/datasets/support/review/{ids['d1']}").text
    assert PAYLOAD not in page
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert page.count(ESCAPED) >= 3  # the text field, the markdown field, the draft answer
    block = re.search(r'id="review-answers">(.*?)</script>', page, re.S)
    assert block is not None
    assert "<" not in block[1]  # tojson escapes markup characters inside the data block
    assert csrf
