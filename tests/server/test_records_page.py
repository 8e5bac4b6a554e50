"""The records browser in process (TestClient) on SQLite and PostgreSQL: every filter through
the page's GET form with exact counts, shareable pager links, a record in full (read-only), who
may open it, and payloads shown as text."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pages_store import ESCAPED, PAYLOAD, build, login, record_links

from synthloop.server.app import create_app


@pytest.fixture
def ids(db_url: str) -> dict[str, int]:
    return build(db_url)


@pytest.fixture
def web(db_url: str, ids: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(create_app(db_url)) as client:
        login(client, "rev")
        yield client


def _found(web: TestClient, query: str) -> tuple[int, list[int]]:
    """The match count the page states, and the records it lists."""
    reply = web.get(f"/datasets/support/records{query}")
    assert reply.status_code == 200, reply.text
    total = re.search(r'<span class="count">(\d+) (?:match|in all)</span>', reply.text)
    assert total is not None
    return int(total[1]), record_links(reply.text, "support", "records")


# Each GET query and the records it lists (the store is built once for all of them).
FILTERS = [
    ("", ["d1", "d2", "d3", "a1", "q1", "x1"]),
    ("?status=disputed", ["d1", "d2", "d3"]),
    ("?status=accepted&status=rejected", ["a1", "x1"]),
    ("?source=synthetic", ["x1"]),
    ("?source=imported&status=queued", ["q1"]),
    ("?reason=DUPLICATE", ["x1"]),
    ("?reason=threshold+0.7", ["d1", "d2", "d3"]),
    ("?label=refund", ["a1", "x1"]),  # a1's final value, x1's suggestion
    ("?label=refund&question=intent", ["a1", "x1"]),
    ("?label=billing", []),
    ("?meta=channel%3Dchat", ["q1"]),
    ("?meta=channel%3Dmail", []),
    ("?q=WHERE+is+my", ["d1", "x1"]),
    ("?q=%3Cscript%3E", ["d1"]),
    ("?q=refund&status=rejected", ["x1"]),
    # empty inputs of the GET form are no filter
    ("?q=&reason=&label=&question=&meta=&source=", ["d1", "d2", "d3", "a1", "q1", "x1"]),
]


def test_filters_list_exactly_the_matching_records(web: TestClient, ids: dict[str, int]) -> None:
    for query, expected in FILTERS:
        total, shown = _found(web, query)
        assert (query, shown, total) == (query, [ids[x] for x in expected], len(expected))


def test_the_table_shows_status_reason_source_preview_and_final(
    web: TestClient, ids: dict[str, int]
) -> None:
    page = web.get("/datasets/support/records?status=rejected&status=accepted").text
    rows = re.findall(r"<tr>\s*<td><a href[^>]*>(.*?)</a></td>(.*?)</tr>", page, re.S)
    cells = {
        name: [html.unescape(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", rest, re.S)]
        for name, rest in rows
    }
    assert cells["a1"] == [
        '<span class="badge status-badge">accepted</span>',
        "",
        "imported",
        "refund please",
        "intent: refund · quality: 4",
    ]
    assert cells["x1"][1:4] == ["near-duplicate of d1", "synthetic", "where is my refund?"]


def test_pages_walk_by_id_and_links_keep_the_filters(web: TestClient, ids: dict[str, int]) -> None:
    page = web.get("/datasets/support/records?status=disputed&status=queued&limit=2").text
    assert record_links(page, "support", "records") == [ids["d1"], ids["d2"]]
    following = re.search(r'<a rel="next" href="([^"]+)"', page)
    assert following is not None
    url = html.unescape(following[1])
    assert url == (
        f"/datasets/support/records?status=disputed&status=queued&limit=2&after={ids['d2']}"
    )
    second = web.get(url).text
    assert record_links(second, "support", "records") == [ids["d3"], ids["q1"]]
    assert 'rel="next"' not in second
    back = re.search(r'<a rel="prev" href="([^"]+)"', second)
    assert back is not None
    first = web.get(html.unescape(back[1])).text
    assert record_links(first, "support", "records") == [ids["d1"], ids["d2"]]
    assert 'rel="prev"' not in first


def test_a_filter_that_cannot_match_says_why(web: TestClient) -> None:
    for query, message in [
        ("?meta=channel", "metadata filter 'channel' needs the form key=value"),
        ("?status=done", "status 'done' is not one of pending"),
        ("?label=4&question=quality", "question 'quality' is not a label question"),
    ]:
        reply = web.get(f"/datasets/support/records{query}")
        assert reply.status_code == 400
        assert message in html.unescape(reply.text)


def test_the_form_shows_the_filters_it_was_given(web: TestClient) -> None:
    page = web.get("/datasets/support/records?status=queued&q=gift&meta=channel%3Dchat").text
    assert '<input type="checkbox" name="status" value="queued" checked>' in page
    assert '<input type="search" name="q" value="gift"' in page
    assert '<input name="meta" value="channel=chat"' in page
    assert 'method="get"' in page


def test_a_record_in_full_is_read_only(web: TestClient, ids: dict[str, int]) -> None:
    page = web.get(f"/datasets/support/records/{ids['a1']}").text
    assert re.findall(r'<span class="annotator">([^<]+)</span>', page) == ["ana", "bo"]
    assert "<form" not in page.split("</header>", 1)[1]  # no editor, only the logout form
    assert "use-answer" not in page
    final = re.search(r'<table class="compact final-values">(.*?)</table>', page, re.S)
    assert final is not None
    assert "refund" in final[1]
    assert "Review this record" not in page  # accepted: nothing left to review
    disputed = web.get(f"/datasets/support/records/{ids['d1']}").text
    assert f'href="/datasets/support/review/{ids["d1"]}">Review this record' in disputed


def test_annotators_and_non_members_may_not_browse(db_url: str, ids: dict[str, int]) -> None:
    with TestClient(create_app(db_url)) as web:
        for user in ("ana", "cy", "rex"):
            login(web, user)
            for path in ("/datasets/support/records", f"/datasets/support/records/{ids['a1']}"):
                reply = web.get(path)
                assert reply.status_code == 403
                assert "may not dashboard in dataset" in html.unescape(reply.text)
                assert "refund please" not in reply.text


def test_owners_browse_without_membership_and_logged_out_is_sent_to_log_in(
    db_url: str, ids: dict[str, int]
) -> None:
    with TestClient(create_app(db_url)) as web:
        reply = web.get("/datasets/support/records?status=queued", follow_redirects=False)
        assert reply.status_code == 303
        assert reply.headers["location"] == (
            "/login?next=%2Fdatasets%2Fsupport%2Frecords%3Fstatus%3Dqueued"
        )
        login(web, "own")
        assert web.get("/datasets/support/records").status_code == 200
        assert web.get("/datasets/nope/records").status_code == 404
        assert web.get("/datasets/support/records/999999").status_code == 404


def test_payloads_render_as_text(web: TestClient, ids: dict[str, int]) -> None:
    listing = web.get("/datasets/support/records?q=script").text
    detail = web.get(f"/datasets/support/records/{ids['d1']}").text
    for page in (listing, detail):
        assert PAYLOAD not in page
        assert "<script>alert" not in page
        assert ESCAPED in page
