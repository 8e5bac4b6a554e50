"""The dashboard in process (TestClient) on SQLite and PostgreSQL: counts by status with the
progress bar, submissions over time, agreement per question (and why one is not measurable),
the annotator report with gold accuracy, the JSON the open page refreshes from, and who may
see it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pages_store import build, login, settings

import synthloop
from synthloop.quality.dataset import dataset_agreement
from synthloop.server.app import create_app
from synthloop.server.pages.dashboard import live_numbers
from synthloop.server.queue import submit


@pytest.fixture
def ids(db_url: str) -> dict[str, int]:
    return build(db_url)


@pytest.fixture
def web(db_url: str, ids: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(create_app(db_url)) as client:
        login(client, "rev")
        yield client


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _row(page: str, heading: str) -> str:
    found = re.search(rf'<th scope="row">{heading}</th>(.*?)</tr>', page, re.S)
    assert found is not None, heading
    return _text(found[1])


def test_progress_shows_counts_by_status_and_a_bar(web: TestClient) -> None:
    page = web.get("/datasets/support/dashboard").text
    counts = dict(re.findall(r'data-live-count="(\w+)">(\d+)</a>', page))
    assert counts == {
        "accepted": "1",
        "disputed": "3",
        "annotated": "0",
        "queued": "1",
        "pending": "0",
        "rejected": "1",
        "failed": "0",
    }
    assert '<span data-live="total">6</span> records' in page
    assert '<span data-live="submitted" id="submitted-total">8</span>' in page
    segments = re.findall(r'data-segment="(\w+)" x="([\d.]+)" y="0" width="([\d.]+)"', page)
    widths = {status: float(width) for status, _, width in segments}
    assert widths["disputed"] == 500.0  # 3 of 6 records, of a 1000-unit bar
    assert widths["accepted"] == pytest.approx(1000 / 6, abs=0.01)
    assert sum(widths.values()) == pytest.approx(1000, abs=0.05)
    assert 'href="/datasets/support/records?status=disputed"' in page
    assert "style=" not in page  # the CSP allows no inline styles: charts use attributes


def test_the_chart_counts_submissions_per_hour(web: TestClient, db_url: str) -> None:
    page = web.get("/datasets/support/dashboard").text
    bars = re.findall(r'<rect class="bar"[^>]*><title>([^<]+) UTC: (\d+)</title>', page)
    assert len(bars) == 24
    assert sum(int(n) for _, n in bars) == 8  # every submission is recent
    with synthloop.open(db_url) as store:
        dataset = store.dataset("support")
        # an hour further on, this hour's bar has moved one place left; the window still
        # ends at the hour of `now`, whatever the clock says
        later = live_numbers(dataset, now=datetime.now(UTC) + timedelta(hours=1))
        now = live_numbers(dataset)
        days = live_numbers(dataset, now=datetime.now(UTC) + timedelta(days=3))["throughput"]
    assert [b["count"] for b in later["throughput"]["bars"]][:-1] == [
        b["count"] for b in now["throughput"]["bars"]
    ][1:]
    assert later["throughput"]["bars"][-1]["count"] == 0
    assert days["unit"] == "day"
    assert len(days["bars"]) == 30
    assert days["total"] == 8


def test_agreement_per_question_and_why_some_are_not_measured(web: TestClient, db_url: str) -> None:
    page = web.get("/datasets/support/dashboard").text
    with synthloop.open(db_url) as store:
        alpha = dataset_agreement(store.dataset("support"))["intent"].alpha
    assert alpha is not None
    # 4 records with 2 answers each; 1 of the 4 pairs agrees
    assert _row(page, "intent") == (
        f"label (nominal) 4 8 {alpha.value:.3f} [{alpha.low:.3f}, {alpha.high:.3f}] 25%"
    )
    assert _row(page, "topics").endswith(
        "0 0 Not measurable yet: no answers: agreement needs items answered by 2 or more workers"
    )
    assert "Not measured: skipped: text answers" in _row(page, "corrected_reply")


def test_agreement_before_any_answer_is_not_measurable_yet(
    db_url: str, ids: dict[str, int]
) -> None:
    with synthloop.open(db_url) as store:
        store.create_dataset("fresh", settings())
    with TestClient(create_app(db_url)) as web:
        login(web, "own")
        reply = web.get("/datasets/fresh/dashboard")
    assert reply.status_code == 200
    assert "Not measurable yet" in _row(reply.text, "intent")
    assert "No submitted responses yet." in reply.text
    assert '<span data-live="total">0</span> records' in reply.text


def test_the_annotator_report_with_gold_accuracy(db_url: str, ids: dict[str, int]) -> None:
    with synthloop.open(db_url) as store:
        dataset = store.dataset("support")
        dataset.add(
            [
                {
                    "id": "g1",
                    "text": "refund?",
                    "reply": "ok",
                    "metadata": {"gold": {"intent": "refund"}},
                }
            ]
        )
        from synthloop.server.queue import enqueue

        enqueue(dataset)
        (gold,) = [r for r in dataset.records() if r.external_id == "g1"]
        assert gold.id is not None
        submit(dataset, gold.id, "ana", {"intent": "refund", "quality": 3})
        submit(dataset, gold.id, "bo", {"intent": "other", "quality": 3})
    with TestClient(create_app(db_url)) as web:
        login(web, "own")
        page = web.get("/datasets/support/dashboard").text
    ana, bo = _row(page, "ana"), _row(page, "bo")
    assert ana.startswith("annotator 5 ")
    assert "100% [21%, 100%] of 1" in ana  # Wilson interval of 1 of 1
    assert "0% [0%, 79%] of 1" in bo
    assert re.search(r"annotator 5 \d+% ", bo)


def test_the_json_the_page_refreshes_from_follows_submissions(
    web: TestClient, db_url: str, ids: dict[str, int]
) -> None:
    before = web.get("/datasets/support/dashboard.json").json()
    assert before["submitted"] == 8
    assert before["counts"]["queued"] == 1
    with synthloop.open(db_url) as store:
        dataset = store.dataset("support")
        submit(dataset, ids["q1"], "bo", {"intent": "other", "quality": 2})
        submit(dataset, ids["q1"], "ana", {"intent": "other", "quality": 2})
    after = web.get("/datasets/support/dashboard.json").json()
    assert after["submitted"] == 10
    assert after["counts"]["queued"] == 0
    assert after["counts"]["accepted"] == 2
    assert after["throughput"]["total"] == 10
    assert [s["status"] for s in after["segments"]] == list(after["counts"])
    page = web.get("/datasets/support/dashboard").text
    assert 'data-source="/datasets/support/dashboard.json"' in page
    assert '<script type="module" src="/static/js/dashboard.js"></script>' in page


def test_annotators_and_non_members_may_not_see_it(db_url: str, ids: dict[str, int]) -> None:
    with TestClient(create_app(db_url)) as web:
        for path in ("/datasets/support/dashboard", "/datasets/support/dashboard.json"):
            reply = web.get(path, follow_redirects=False)
            assert reply.status_code == 303
            assert reply.headers["location"].startswith("/login?next=")
        for user in ("ana", "cy", "rex"):
            login(web, user)
            for path in ("/datasets/support/dashboard", "/datasets/support/dashboard.json"):
                reply = web.get(path)
                assert reply.status_code == 403
                assert "may not dashboard in dataset" in html.unescape(reply.text)
        login(web, "own")
        assert web.get("/datasets/support/dashboard").status_code == 200
        assert web.get("/datasets/nope/dashboard.json").status_code == 404
