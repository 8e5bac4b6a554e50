"""Browser tests: Playwright driving Debian's chromium against a real `synthloop serve`.

Each test gets a fresh SQLite store with one user per role (password `PASSWORD`), a server
subprocess on it, and a browser page that fails the test on any JavaScript error, any console
error (CSP violations are logged there) or any request to another origin. The store stays open
to the test through `site.store`: it is the same file the server serves.

Chromium comes from Debian (`make test` installs the `chromium` package when it is missing);
without it these tests skip, and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import synthloop
from synthloop.accounts import create_user

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from live import serve  # tests/server is not a package: found through the path above

playwright_sync = pytest.importorskip("playwright.sync_api")
# Generous waits: CI runs these on 2 shared cores, where a page can take seconds to settle.
# They bound a hang, they are never a figure the test checks.
playwright_sync.expect.set_options(timeout=20_000)

PASSWORD = "correct horse battery"
USERS = {"owner": "owner", "rev": "reviewer", "ana": "annotator", "bo": "annotator"}
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Screenshots land here for people to look at; the directory is not committed.
SCREENSHOTS = Path(
    os.environ.get("SYNTHLOOP_SCREENSHOTS", Path(__file__).resolve().parents[2] / "screenshots")
)


def chromium_path() -> str:
    found = os.environ.get("SYNTHLOOP_CHROMIUM") or shutil.which("chromium")
    if found is None:
        problem = "Debian's chromium is not installed (apt-get install chromium; make test does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{problem}; CI=true: the browser tests must run")
        pytest.skip(problem)
    return found


# Per module, not per session: sync Playwright keeps an asyncio loop running in the main thread
# while it lives, which would break every later test that calls asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_path()
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=LAUNCH_ARGS
        )
        yield launched
        launched.close()


@dataclass
class Site:
    """A running server on a store the test can also write to."""

    url: str
    store: synthloop.Store
    db: Path
    foreign_requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    db = tmp_path / "store.db"
    store = synthloop.open(db)
    for name, role in USERS.items():
        create_user(store, name, role, PASSWORD)
    try:
        with serve(str(db), tmp_path / "server.log") as url:
            yield Site(url, store, db)
    finally:
        store.close()


@pytest.fixture
def page(browser: object, site: Site) -> Iterator[object]:
    """A fresh browser context (no cookies) at 1280x800; JS errors, console errors and
    requests to other origins are collected and fail the test at teardown."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    origin = urlsplit(site.url).netloc

    def on_request(route: object) -> None:
        request = route.request  # type: ignore[attr-defined]
        if urlsplit(request.url).netloc not in ("", origin) and request.url.startswith("http"):
            site.foreign_requests.append(request.url)
            route.abort()  # type: ignore[attr-defined]
        else:
            route.continue_()  # type: ignore[attr-defined]

    context.route("**/*", on_request)
    context.set_default_timeout(30_000)
    opened = context.new_page()
    opened.on("pageerror", lambda exc: site.errors.append(f"page error: {exc}"))
    opened.on(
        "console",
        lambda msg: (
            site.errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    yield opened
    context.close()
    assert site.foreign_requests == [], "the page called another origin"
    assert site.errors == [], "the page logged errors"


def login(page: object, site: Site, username: str, password: str = PASSWORD) -> None:
    """Log in through the form, as a person would."""
    page.goto(f"{site.url}/login")  # type: ignore[attr-defined]
    page.get_by_label("User name").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{site.url}/")  # type: ignore[attr-defined]


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
