"""Untrusted text stays text: a record whose every field, id, metadata, suggestion and the
dataset's guidelines hold script and HTML injection payloads renders inert on every page that
shows it. Inert means: no dialog opens, no request leaves for another origin (the `page`
fixture aborts and reports those), no element of the payloads exists in the DOM, no script of
theirs ran, and the payload is visible as the literal text it is."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Site, login
from synthloop.accounts import assign
from synthloop.server.queue import enqueue, submit

# Every payload marks what it would inject with `data-injected` or sets window.__pwned.
PAYLOADS = [
    "<script data-injected>window.__pwned = 1; alert(1)</script>",
    '<img src="x" onerror="window.__pwned = 2; alert(2)" data-injected>',
    '"><svg onload="window.__pwned = 3" data-injected></svg>',
    '<iframe src="https://evil.example/" data-injected></iframe>',
    "</textarea><script data-injected>window.__pwned = 4</script>",
    "{{ 7 * 7 }} {% raw %}",
    "javascript:alert(5)",
]
TEXT = " ".join(PAYLOADS)
MARKDOWN = (
    f"# Title {PAYLOADS[0]}\n\n[click me](javascript:window.__pwned=6)\n\n"
    "![tracker](https://evil.example/pixel.png)\n\n<div data-injected>raw html</div>\n\n"
    + PAYLOADS[1]
)
SETTINGS = {
    "guidelines": MARKDOWN,
    "fields": [
        {"name": "text", "type": "text"},
        {"name": "reply", "type": "markdown"},
        {"name": "conversation", "type": "chat"},
        {"name": "extra", "type": "json"},
    ],
    "questions": [
        {"name": "verdict", "type": "label", "labels": ["ok", "bad"]},
        {"name": "fix", "type": "text", "prefill": "text", "required": False},
        {"name": "claims", "type": "span", "field": "text", "labels": ["bad"], "required": False},
    ],
    "distribution": {"overlap": 2, "agreement_threshold": 0.9},
}
RECORD = {
    "id": f"x{PAYLOADS[2]}",
    "fields": {
        "text": TEXT,
        "reply": MARKDOWN,
        "conversation": [
            {"role": "user", "content": PAYLOADS[0]},
            {"role": "assistant", "content": PAYLOADS[1]},
        ],
        "extra": {"html": PAYLOADS[3], PAYLOADS[1]: [PAYLOADS[4]]},
    },
    "metadata": {"note": PAYLOADS[1], "source_url": "javascript:alert(7)"},
    "suggestions": {"verdict": {"value": "ok", "agent": PAYLOADS[0], "score": 0.9}},
}


@pytest.fixture
def poisoned(site: Site) -> int:
    """The poisoned record, queued, with two conflicting answers so it is disputed too."""
    dataset = site.store.create_dataset("poison", SETTINGS)
    dataset.add([RECORD])
    enqueue(dataset)
    assign(site.store, "poison", ["ana", "bo", "rev"])
    (record,) = dataset.records()
    return int(record.id)


def _assert_inert(page: Any, dialogs: list[str]) -> None:
    page.wait_for_load_state("networkidle")
    assert dialogs == [], "a payload opened a dialog"
    assert page.locator("[data-injected]").count() == 0, "a payload became an element"
    assert page.evaluate("window.__pwned") is None, "a payload's script ran"
    assert page.locator('a[href^="javascript:"]').count() == 0, "a javascript: link survived"
    assert page.locator("iframe, object, embed").count() == 0


def _watch_dialogs(page: Any) -> list[str]:
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return dialogs


def test_the_annotate_page_shows_payloads_as_text(page: Any, site: Site, poisoned: int) -> None:
    dialogs = _watch_dialogs(page)
    login(page, site, "ana")
    page.goto(f"{site.url}/datasets/poison/annotate")
    _assert_inert(page, dialogs)
    body = page.locator("body").inner_text()
    assert "<script data-injected>window.__pwned = 1; alert(1)</script>" in body
    assert "{{ 7 * 7 }}" in body  # not evaluated by the template engine either
    assert "49" not in body


def test_review_and_records_pages_show_payloads_as_text(
    page: Any, site: Site, poisoned: int
) -> None:
    dataset = site.store.dataset("poison")
    submit(dataset, poisoned, "ana", {"verdict": "ok", "fix": PAYLOADS[0]})
    submit(dataset, poisoned, "bo", {"verdict": "bad", "fix": PAYLOADS[1]})
    assert dataset.records_by_id([poisoned])[0].status == "disputed"
    dialogs = _watch_dialogs(page)
    login(page, site, "rev")
    for path in (
        "/datasets/poison/review",
        f"/datasets/poison/review/{poisoned}",
        "/datasets/poison/records",
        "/datasets/poison/records?q=script",
        "/datasets/poison/dashboard",
    ):
        page.goto(f"{site.url}{path}")
        assert page.title() != "Error · synthloop", path
        _assert_inert(page, dialogs)
    page.goto(f"{site.url}/datasets/poison/review/{poisoned}")
    body = page.locator("body").inner_text()
    assert PAYLOADS[0] in body  # the field, and ana's answer, shown as the text they are
    assert PAYLOADS[1] in body  # bo's answer
