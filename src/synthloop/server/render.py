"""Untrusted text made safe to show: markdown rendered and sanitised on the server.

Everything a page shows came from an LLM or an imported file. Templates escape by default;
markdown fields are the one place HTML is produced from that text, so it is rendered with raw
HTML disabled and the result cleaned again with an allow-list (nh3, Rust's ammonia) in case the
renderer itself lets something through. No images: a remote `src` would make the annotator's
browser call another origin.
"""

from __future__ import annotations

import functools

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

__all__ = ["markdown"]

_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
_SCHEMES = {"http", "https", "mailto"}


def markdown(text: str) -> Markup:
    """Safe HTML for markdown `text`."""
    html = _renderer().render(text)
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)  # safe: cleaned by nh3 just above


@functools.cache
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
