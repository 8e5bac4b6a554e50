"""The dashboard in a real browser: open it, submit answers through the library while it is
open, and watch its numbers change without a reload."""

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

# Long enough to show a hang, never a measure of speed: the page refreshes every 5 s.
WAIT_MS = 20_000


@pytest.fixture
def ids(site: Site) -> dict[str, int]:
    """Dataset 'support' (overlap 2): six records queued, two of them answered twice."""
    dataset = site.store.create_dataset("support", Settings.loads(SETTINGS))
    rows = [{"id": f"r{i}", "text": f"where is order {i}?", "reply": "soon"} for i in range(6)]
    dataset.add(rows)
    enqueue(dataset)
    assign(site.store, "support", ["ana", "bo", "rev"])
    found = {str(r.external_id): int(r.id or 0) for r in dataset.records()}
    for name in ("r0", "r1"):
        submit(dataset, found[name], "ana", {"intent": "delivery", "quality": 4}, duration=8)
        submit(dataset, found[name], "bo", {"intent": "delivery", "quality": 5}, duration=15)
    return found


def test_the_dashboard_changes_as_answers_come_in(
    page: Any, site: Site, ids: dict[str, int], screenshots: Path
) -> None:
    login(page, site, "rev")
    page.goto(f"{site.url}/datasets/support/dashboard")
    page.wait_for_selector("body[data-ready=dashboard]", state="attached")
    submitted = page.locator("#submitted-total")
    queued = page.locator('[data-live-count="queued"]')
    accepted = page.locator('[data-live-count="accepted"]')
    expect(submitted).to_have_text("4")
    expect(queued).to_have_text("4")
    expect(accepted).to_have_text("2")
    expect(page.get_by_role("row", name="ana")).to_contain_text("annotator")
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

    dataset = site.store.dataset("support")
    submit(dataset, ids["r2"], "ana", {"intent": "refund", "quality": 3})
    expect(submitted).to_have_text("5", timeout=WAIT_MS)
    expect(queued).to_have_text("4")  # one answer of the two the overlap needs
    submit(dataset, ids["r2"], "bo", {"intent": "refund", "quality": 3})
    expect(submitted).to_have_text("6", timeout=WAIT_MS)
    expect(queued).to_have_text("3")
    expect(accepted).to_have_text("3")
    segment = page.locator('[data-segment="accepted"]')
    expect(segment).to_have_attribute("width", "500")  # 3 of 6 records, of a 1000-unit bar
    bars = page.locator("#throughput-bars rect.bar title")
    expect(bars).to_have_count(24)
    expect(page.locator('[data-live="window-total"]')).to_have_text("6")
