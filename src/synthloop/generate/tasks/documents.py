"""Documents as source items: a folder's text files read, and long texts cut into chunks.

`qa_from_documents` asks about one chunk at a time, so a chunk must fit a prompt; chunks end at
paragraph breaks where they can (a question about half a sentence is a bad question) and
overlap a little so what straddles a break is whole in one of them. HTML is reduced to its text
with the standard library's parser: no extra dependency for a best-effort conversion.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from synthloop.errors import SynthloopError
from synthloop.generate.tasks.base import SourceItem

__all__ = ["FORMATS", "chunks", "html_text", "read_folder"]

FORMATS = {".txt": "txt", ".md": "md", ".html": "html", ".htm": "html"}

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    }
)
_SKIPPED_TAGS = frozenset({"script", "style", "template", "noscript"})


def read_folder(path: str | Path) -> Iterator[SourceItem]:
    """Each .txt, .md and .html (or .htm) file under `path`, hidden ones aside, in sorted order
    of its path relative to `path` (a posix path, also the item's id). Fields: `text` (HTML
    reduced to text), `path`, `format` ("txt", "md" or "html"). A file that is not UTF-8 raises
    SynthloopError."""
    root = Path(path)
    if not root.is_dir():
        raise SynthloopError(f"document folder {str(root)!r} does not exist or is not a folder")
    files = sorted(
        (p.relative_to(root).as_posix(), p)
        for p in root.rglob("*")
        if p.suffix.lower() in FORMATS
        and p.is_file()
        # hidden files and folders (.git, .cache...) are tooling, not documents
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    for rel, file in files:
        fmt = FORMATS[file.suffix.lower()]
        text = _read(file, rel, root)
        yield SourceItem(
            rel, {"text": html_text(text) if fmt == "html" else text, "path": rel, "format": fmt}
        )


def _read(file: Path, rel: str, root: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SynthloopError(
            f"document {rel!r} in {str(root)!r} is not UTF-8 text (byte {exc.start}: "
            f"{exc.reason}); convert it to UTF-8 or move it out of the folder"
        ) from None
    except OSError as exc:
        raise SynthloopError(f"cannot read document {rel!r} in {str(root)!r}: {exc}") from None


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(self._skipping - 1, 0)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The text of an HTML document: scripts and styles dropped, block elements as paragraphs,
    runs of spaces collapsed."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    paragraphs = (" ".join(p.split()) for p in _PARAGRAPH_BREAK.split("".join(parser.parts)))
    return "\n\n".join(p for p in paragraphs if p)


def chunks(text: str, size: int, overlap: int = 0) -> list[str]:
    """`text` cut into chunks of at most `size` characters, at paragraph breaks where possible
    (a paragraph longer than `size` is cut between words, a word longer than `size` anywhere).
    Each chunk after the first begins with up to `overlap` characters from the end of the one
    before (starting at a word), when that leaves room for new text."""
    if size < 1 or not 0 <= overlap < size:
        raise SynthloopError(
            f"chunk size {size} and overlap {overlap}: need size >= 1 and 0 <= overlap < size; "
            "lower the overlap or raise the chunk size"
        )
    pieces = [
        piece
        for paragraph in _PARAGRAPH_BREAK.split(text.strip())
        for piece in _split_long(paragraph.strip(), size)
    ]
    out: list[str] = []
    current: list[str] = []
    for piece in pieces:
        if current and _joined_length([*current, piece]) > size:
            out.append("\n\n".join(current))
            tail = _tail(out[-1], overlap)
            current = [tail] if tail and _joined_length([tail, piece]) <= size else []
        current.append(piece)
    if current:
        out.append("\n\n".join(current))
    return out


def _joined_length(parts: list[str]) -> int:
    return sum(map(len, parts)) + 2 * (len(parts) - 1)


def _split_long(paragraph: str, size: int) -> list[str]:
    if len(paragraph) <= size:
        return [paragraph] if paragraph else []
    pieces: list[str] = []
    current = ""
    for word in paragraph.split():
        while len(word) > size:  # a URL or a table row longer than a chunk: cut it anywhere
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:size])
            word = word[size:]
        if current and len(current) + 1 + len(word) > size:
            pieces.append(current)
            current = ""
        current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def _tail(chunk: str, overlap: int) -> str:
    if overlap == 0:
        return ""
    if len(chunk) <= overlap:
        return chunk
    tail = chunk[-overlap:]
    if not chunk[-overlap - 1].isspace():
        # begin at a word, not inside one, unless the whole tail is one word
        parts = tail.split(None, 1)
        tail = parts[1] if len(parts) == 2 else tail
    return tail.strip()
