"""The annotate page in a real browser: every question type answered with the keyboard alone,
suggestions marked until changed, answers stored as the library reads them (span offsets in
Python characters, past an emoji), required questions, skip, undo, help, and the mouse paths
(dragging a ranking, selecting a span)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from conftest import Site, login
from synthloop.accounts import assign
from synthloop.server.queue import enqueue, submit
from synthloop.settings import Settings

EVERY_QUESTION = Path(__file__).resolve().parents[1] / "server" / "every_question.yaml"
MESSAGE = "My order 😀 of 12 mugs\narrived late."
REPLY = "Sorry for the wait.\n\nYour **mugs** ship today."


def _row(n: int, **extra: Any) -> dict[str, Any]:
    fields = {
        "text": MESSAGE,
        "reply": REPLY,
        "alternative": f"We apologise ({n}).",
        "conversation": [{"role": "user", "content": "where are my mugs?"}],
        "extra": {"order": n},
    }
    return {"id": f"r{n}", "fields": fields, **extra}


SUGGESTIONS = {
    "intent": {"value": "delivery", "score": 0.87, "agent": "judge"},
    "claims": {"value": [{"start": 3, "end": 8, "label": "product"}], "agent": "ner"},
}


@pytest.fixture
def every(site: Site) -> dict[str, int]:
    """Dataset 'every' (every question type, overlap 2): r1 (with suggestions), r2, r3 queued;
    ana and bo annotate it. Returns the store ids by external id."""
    dataset = site.store.create_dataset("every", Settings.load(EVERY_QUESTION))
    dataset.add([_row(1, suggestions=SUGGESTIONS, priority=3), _row(2, priority=2), _row(3)])
    enqueue(dataset)
    assign(site.store, "every", ["ana", "bo"])
    return {str(r.external_id): int(r.id or 0) for r in dataset.records()}


def _open(page: Any, site: Site, user: str = "ana") -> None:
    login(page, site, user)
    page.goto(f"{site.url}/datasets/every/annotate")
    _ready(page)


def _ready(page: Any) -> None:
    """Wait for the page's script: keys pressed before it runs would be lost."""
    page.wait_for_selector("body[data-ready=annotate]", state="attached")


def _mine(site: Site, record_id: int) -> Any:
    found = [r for i, _, r in site.store.dataset("every").responses("ana") if i == record_id]
    return found[0] if found else None


def test_every_question_type_by_keyboard_alone(
    page: Any, site: Site, every: dict[str, int], screenshots: Path
) -> None:
    _open(page, site)
    expect(page.get_by_test_id("record-id")).to_have_text("r1")
    # The model's answers are put in and marked, with who suggested them and how sure it was.
    intent = page.get_by_test_id("suggestion-intent")
    expect(intent).to_have_text("suggested · judge · 0.87")
    expect(page.get_by_test_id("option-intent-delivery")).to_have_attribute("aria-checked", "true")
    expect(page.get_by_test_id("suggestion-claims")).to_be_visible()
    page.screenshot(path=str(screenshots / "annotate.png"))

    keys = page.keyboard
    keys.press("3")  # intent: account, the first question is active on arrival
    expect(page.get_by_test_id("option-intent-account")).to_have_attribute("aria-checked", "true")
    expect(intent).to_be_hidden()  # changed: no longer the model's
    for key in ["j", "1", "3"]:  # topics: billing and login
        keys.press(key)
    for key in ["j", "4"]:  # quality: 4
        keys.press(key)
    # order: formal down one place (Alt+Down), then terse to the top by its new place's number
    for key in ["j", "Alt+ArrowDown", "ArrowDown", "1"]:
        keys.press(key)
    expect(page.get_by_test_id("ranking-order").locator(".rank-label")).to_have_text(
        ["terse", "friendly", "formal"]
    )
    for key in ["j", "b"]:  # better: B, the other reply
        keys.press(key)
    expect(page.get_by_test_id("pair-better-B")).to_have_class(re.compile(r"\bchosen\b"))
    keys.press("j")  # corrected: the textarea, prefilled with the reply
    expect(page.get_by_test_id("text-corrected")).to_be_focused()
    expect(page.get_by_test_id("text-corrected")).to_have_value(REPLY)
    for key in ["Control+Home", "Control+Shift+ArrowRight"]:
        keys.press(key)
    keys.type("Apologies")
    keys.press("Control+End")
    keys.type(" Thanks!")
    diff = page.get_by_test_id("diff-corrected")
    expect(diff.locator("del")).to_have_text(["Sorry"])
    expect(diff.locator("ins")).to_have_text(["Apologies", " Thanks!"])
    for key in ["Escape", "j", "Escape", "j"]:  # out of the box, past the note, to the span text
        keys.press(key)
    expect(page.get_by_test_id("span-claims")).to_be_focused()
    # Caret to the word after the emoji, then select "12 mugs" by words and label it.
    for key in ["Control+ArrowRight"] * 3 + ["Control+Shift+ArrowRight"] * 2 + ["1"]:
        keys.press(key)
    expect(page.get_by_test_id("span-item-claims")).to_have_count(2)
    expect(page.get_by_test_id("spans-claims")).to_contain_text("12 mugs")
    page.screenshot(path=str(screenshots / "annotate-answered.png"))
    keys.press("Enter")
    expect(page.get_by_test_id("record-id")).to_have_text("r2")
    _ready(page)

    response = _mine(site, every["r1"])
    assert response.status == "submitted"
    assert response.values == {
        "intent": "account",
        "topics": ["billing", "login"],
        "quality": 4,
        "order": ["terse", "friendly", "formal"],
        "better": ["alternative", "reply"],
        "corrected": "Apologies for the wait.\n\nYour **mugs** ship today. Thanks!",
        "claims": [
            {"start": 3, "end": 8, "label": "product"},
            {"start": 14, "end": 21, "label": "product"},
        ],
    }
    assert MESSAGE[14:21] == "12 mugs"  # Python characters: the emoji counts once
    assert response.duration is not None
    assert response.duration > 0


def test_required_questions_are_asked_for_before_submitting(
    page: Any, site: Site, every: dict[str, int]
) -> None:
    _open(page, site)
    page.keyboard.press("Enter")
    for name in ("intent", "quality", "order", "better"):  # intent is suggested, so answered
        error = page.get_by_test_id(f"error-{name}")
        if name == "intent":
            expect(error).to_be_hidden()
        else:
            expect(error).to_have_text("Answer this question before submitting.")
    expect(page.locator("#status-line")).to_have_text("3 required questions unanswered.")
    expect(page.get_by_test_id("question-quality")).to_have_class(re.compile(r"\bactive\b"))
    page.keyboard.press("5")  # the first unanswered question is active: answering clears it
    expect(page.get_by_test_id("error-quality")).to_be_hidden()
    assert _mine(site, every["r1"]) is None


def test_the_servers_problems_show_next_to_their_questions(
    page: Any, site: Site, every: dict[str, int]
) -> None:
    # The page offers a rating the settings do not have (as if they changed after it loaded):
    # only the server can refuse it, and its 422 lands next to the question.
    def offer_seven(route: Any) -> None:
        html = (
            route.fetch().text().replace('"options": [1, 2, 3, 4, 5]', '"options": [1, 2, 3, 4, 7]')
        )
        route.fulfill(body=html, content_type="text/html; charset=utf-8")

    login(page, site, "ana")
    page.route("**/datasets/every/annotate", offer_seven)
    page.goto(f"{site.url}/datasets/every/annotate")
    _ready(page)
    for key in ["j", "j", "5", "j", "1", "j", "a", "Enter"]:
        page.keyboard.press(key)
    expect(page.get_by_test_id("error-quality")).to_have_text(
        "rating 7 is not one of [1, 2, 3, 4, 5]"
    )
    expect(page.locator("#status-line")).to_contain_text("Not saved")
    expect(page.get_by_test_id("record-id")).to_have_text("r1")
    assert _mine(site, every["r1"]) is None
    site.errors.clear()  # the browser logs the refused request as a failed resource


def test_fits_1024_wide(page: Any, site: Site, every: dict[str, int]) -> None:
    page.set_viewport_size({"width": 1024, "height": 768})
    _open(page, site)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    fields = page.locator(".record-fields").bounding_box()
    questions = page.locator(".questions").bounding_box()
    assert fields["x"] + fields["width"] <= questions["x"]  # still side by side


def test_skip_then_undo_then_too_late(page: Any, site: Site, every: dict[str, int]) -> None:
    _open(page, site)
    page.keyboard.press("s")
    expect(page.get_by_test_id("record-id")).to_have_text("r2")
    _ready(page)
    expect(page.locator("#status-line")).to_have_text("Skipped. Press U to undo.")
    assert _mine(site, every["r1"]).status == "discarded"

    page.keyboard.press("u")  # reopens r1, as the skip left it: suggestions put in again
    expect(page.get_by_test_id("undo-notice")).to_be_visible()
    expect(page.get_by_test_id("record-id")).to_have_text("r1")
    _ready(page)
    assert page.url.endswith(f"?record={every['r1']}")
    expect(page.get_by_test_id("option-intent-delivery")).to_have_attribute("aria-checked", "true")
    for key in ["j", "j", "2", "j", "Alt+ArrowDown", "j", "a", "Enter"]:
        page.keyboard.press(key)
    expect(page.get_by_test_id("record-id")).to_have_text("r2")  # the lease held meanwhile
    _ready(page)
    undone = _mine(site, every["r1"])
    assert undone.status == "submitted"
    assert undone.values["quality"] == 2
    assert undone.values["better"] == ["reply", "alternative"]
    assert undone.values["order"] == ["friendly", "formal", "terse"]

    page.keyboard.press("Control+z")  # undo again: the re-submission is the last one now
    expect(page.get_by_test_id("undo-notice")).to_be_visible()
    expect(page.get_by_test_id("option-quality-2")).to_have_attribute("aria-checked", "true")
    _ready(page)
    # The lease of that submission has run out: undo refuses.
    page.evaluate(
        """() => {
        const key = "synthloop:last:every";
        const last = JSON.parse(sessionStorage.getItem(key));
        sessionStorage.setItem(key, JSON.stringify({ ...last, record: -1, expires: 0 }));
    }"""
    )
    page.keyboard.press("u")
    expect(page.locator("#status-line")).to_have_text(
        "Too late to undo: the lease on your last record has run out."
    )


def test_help_overlay_and_guidelines(page: Any, site: Site, every: dict[str, int]) -> None:
    _open(page, site)
    help = page.get_by_test_id("help")
    expect(help).to_be_hidden()
    page.keyboard.press("?")
    expect(help).to_be_visible()
    for words in ("Next / previous question", "Skip this record", "Undo", "Alt", "Shift"):
        expect(help).to_contain_text(words)
    page.keyboard.press("s")  # keys are off while the help is open
    page.keyboard.press("Escape")
    expect(help).to_be_hidden()
    expect(page.get_by_test_id("record-id")).to_have_text("r1")
    guidelines = page.get_by_test_id("guidelines")
    expect(guidelines.locator("h2")).to_be_visible()
    page.keyboard.press("g")
    expect(guidelines.locator("h2")).to_be_hidden()
    page.reload()  # the choice is remembered
    expect(page.get_by_test_id("guidelines").locator("h2")).to_be_hidden()


def test_mouse_drag_ranking_and_mouse_span_selection(
    page: Any, site: Site, every: dict[str, int]
) -> None:
    _open(page, site)
    ranking = page.get_by_test_id("ranking-order")
    ranking.get_by_test_id("option-order-terse").drag_to(
        ranking.get_by_test_id("option-order-formal"), target_position={"x": 20, "y": 2}
    )
    expect(ranking.locator(".rank-label")).to_have_text(["terse", "formal", "friendly"])
    # Select "mugs" with the mouse: from its first character to past its last one.
    surface = page.get_by_test_id("span-claims")
    surface.scroll_into_view_if_needed()
    start = _char_box(page, MESSAGE.index("mugs"))
    end = _char_box(page, MESSAGE.index("mugs") + 3)
    page.mouse.move(start["x"] + 1, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] - 1, end["y"] + end["height"] / 2, steps=5)
    page.mouse.up()
    page.get_by_test_id("option-claims-date").click()
    expect(page.get_by_test_id("spans-claims")).to_contain_text("mugs")
    # Remove the suggested span with its button; the new one stays.
    page.get_by_role("button", name="Remove product: order").click()
    expect(page.get_by_test_id("span-item-claims")).to_have_count(1)
    page.get_by_test_id("option-quality-3").click()
    page.get_by_test_id("option-better-reply").click()
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("record-id")).to_have_text("r2")
    values = _mine(site, every["r1"]).values
    assert values["order"] == ["terse", "formal", "friendly"]
    start_at = MESSAGE.index("mugs")
    assert values["claims"] == [{"start": start_at, "end": start_at + 4, "label": "date"}]


def test_nothing_left(page: Any, site: Site, every: dict[str, int]) -> None:
    dataset = site.store.dataset("every")
    for record_id in every.values():
        submit(dataset, record_id, "ana", {}, status="discarded")
    _open(page, site)
    expect(page.get_by_test_id("nothing-left")).to_contain_text("Nothing left to annotate")
    page.keyboard.press("u")
    expect(page.locator("#status-line")).to_contain_text("Nothing to undo")


def _char_box(page: Any, index: int) -> Any:
    """The on-screen box of the span text's character at Python index `index`."""
    return page.evaluate(
        """([index]) => {
        const surface = document.querySelector('[data-testid="span-claims"]');
        const text = surface.textContent;
        const units = [...text].slice(0, index).join("").length;
        const walker = document.createTreeWalker(surface, NodeFilter.SHOW_TEXT);
        let seen = 0;
        while (walker.nextNode()) {
            const node = walker.currentNode;
            if (seen + node.length > units) {
                const range = document.createRange();
                range.setStart(node, units - seen);
                range.setEnd(node, units - seen + 1);
                const box = range.getBoundingClientRect();
                return { x: box.x, y: box.y, width: box.width, height: box.height };
            }
            seen += node.length;
        }
        return null;
    }""",
        [index],
    )
