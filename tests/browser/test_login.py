"""Logging in and out in a real browser; pages need a session."""

from __future__ import annotations

from typing import Any

from conftest import Site, login


def test_login_shows_the_users_datasets_and_logout_ends_the_session(page: Any, site: Site) -> None:
    site.store.create_dataset(
        "support",
        {
            "fields": [{"name": "text", "type": "text"}],
            "questions": [{"name": "ok", "type": "label", "labels": ["yes", "no"]}],
        },
    )
    page.goto(f"{site.url}/")
    assert "/login" in page.url  # no session: sent to log in
    login(page, site, "owner")
    assert page.get_by_role("cell", name="support").is_visible()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{site.url}/login")
    page.goto(f"{site.url}/")
    assert "/login" in page.url


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    page: Any, site: Site
) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_label("User name").fill("ana")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "Unknown user name or wrong password."
    site.errors.clear()  # the 400 answer to the form post is logged as a failed resource
