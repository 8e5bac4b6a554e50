"""The review page in a real browser: a reviewer opens a disputed record, moves with J and K,
takes an annotator's answer with a number key, saves with Enter, and lands on the next disputed
record; the record is accepted with that answer, decided by the reviewer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from conftest import Site, login
from synthloop.accounts import assign
from synthloop.demo import SETTINGS
from synthloop.server.queue import enqueue, submit
from synthloop.settings import Settings

STRICT = SETTINGS.replace("{overlap: 2}", "{overlap: 2, agreement_threshold: 0.7}")
ROWS = [
    {
        "id": "d1",
        "fields": {
            "text": "Where is my refund for order 1042?",
            "reply": "We **started** the refund; it reaches your card in 5 days.",
            "conversation": [
                {"role": "user", "content": "hello, I paid twice"},
                {"role": "assistant", "content": "Sorry! Which order?"},
            ],
        },
        "priority": 3,
    },
    {
        "id": "d2",
        "fields": {"text": "My parcel is late", "reply": "It ships today."},
        "priority": 2,
    },
    {"id": "d3", "fields": {"text": "I cannot log in", "reply": "Reset your password."}},
]
ANA = {"intent": "refund", "quality": 4, "topics": ["billing"]}
BO = {"intent": "delivery", "quality": 2, "better": ["alternative", "reply"]}


@pytest.fixture
def disputed(site: Site) -> dict[str, int]:
    """Three records ana and bo disagree on: disputed, in review order d1, d2, d3."""
    dataset = site.store.create_dataset("support", Settings.loads(STRICT))
    dataset.add(ROWS)
    enqueue(dataset)
    assign(site.store, "support", ["ana", "bo", "rev"])
    ids = {str(r.external_id): int(r.id or 0) for r in dataset.records()}
    for record_id in ids.values():
        submit(dataset, record_id, "ana", ANA, duration=21.0)
        submit(dataset, record_id, "bo", BO, duration=9.5)
    assert {r.status for r in dataset.records()} == {"disputed"}
    return ids


def _ready(page: Any) -> None:
    page.wait_for_selector("body[data-ready=review]", state="attached")


def test_a_reviewer_settles_a_record_with_the_keyboard(
    page: Any, site: Site, disputed: dict[str, int], screenshots: Path
) -> None:
    login(page, site, "rev")
    page.goto(f"{site.url}/datasets/support/review")
    page.get_by_role("link", name="d1").click()
    page.wait_for_url(f"{site.url}/datasets/support/review/{disputed['d1']}")
    _ready(page)
    answers = page.locator("table.side-by-side")
    expect(answers.locator(".annotator")).to_have_text(["ana", "bo"])
    expect(answers.get_by_role("row", name="intent")).to_contain_text("1 of 2 (50%)")
    # J and K walk the disputed records in review order
    page.keyboard.press("j")
    page.wait_for_url(f"{site.url}/datasets/support/review/{disputed['d2']}")
    _ready(page)
    page.keyboard.press("k")
    page.wait_for_url(f"{site.url}/datasets/support/review/{disputed['d1']}")
    _ready(page)
    # 2 takes bo's answer into the editor
    page.keyboard.press("2")
    form = page.locator("#review-form")
    expect(form.get_by_role("radio", name="delivery")).to_be_checked()
    expect(form.get_by_role("radio", name="2", exact=True)).to_be_checked()
    expect(form.locator('select[name="q-better-rank-1"]')).to_have_value("1")
    expect(page.locator("#status-line")).to_contain_text("Copied bo's answer")
    # then 1 takes ana's instead, and a change by hand is kept
    page.keyboard.press("1")
    expect(form.get_by_role("radio", name="refund")).to_be_checked()
    expect(form.get_by_role("checkbox", name="billing")).to_be_checked()
    expect(form.locator('select[name="q-better-rank-1"]')).to_have_value("")
    form.get_by_role("radio", name="5", exact=True).check()
    page.screenshot(path=str(screenshots / "review.png"), full_page=True)
    page.locator("body").press("Enter")  # from the page, not a text box: Enter saves
    page.wait_for_url(f"{site.url}/datasets/support/review/{disputed['d2']}?saved=d1")
    expect(page.get_by_role("status").first).to_contain_text("Saved the final answer of record")
    (record,) = site.store.dataset("support").records_by_id([disputed["d1"]])
    assert record.status == "accepted"
    assert record.final == {**ANA, "quality": 5}
    assert record.metadata["decided_by"] == "reviewer:rev"
    review = [r for r in record.responses if r.user == "rev"]
    assert [r.status for r in review] == ["submitted"]
    assert review[0].duration is not None
    # the saved record has left the list
    page.goto(f"{site.url}/datasets/support/review")
    expect(page.locator("table.review-list tbody tr")).to_have_count(2)


def test_a_problem_is_listed_and_nothing_saved(
    page: Any, site: Site, disputed: dict[str, int]
) -> None:
    login(page, site, "rev")
    page.goto(f"{site.url}/datasets/support/review/{disputed['d3']}")
    _ready(page)
    form = page.locator("#review-form")
    form.get_by_role("textbox", name="claims (JSON)").fill("[not json")
    form.get_by_role("button", name="Save final answer").click()
    expect(page.get_by_role("alert")).to_contain_text("spans must be a JSON list")
    expect(page.get_by_role("alert")).to_contain_text("question 'intent': is required to submit")
    expect(form.get_by_role("textbox", name="claims (JSON)")).to_have_value("[not json")
    (record,) = site.store.dataset("support").records_by_id([disputed["d3"]])
    assert record.status == "disputed"
    site.errors.clear()  # the 422 answer to the form post is logged as a failed resource
