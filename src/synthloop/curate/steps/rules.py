"""The `rules` step: cheap heuristics that catch the usual failures of generated and scraped text.

Each rule is an option with a default (`--rules default` runs them all); a numeric limit or a
phrase list set to null/empty switches its rule off. Rules run in this order and the first that
fails rejects the record with its own reason, so every rejection names one cause:

1. `empty`: a judged text field that is empty or only whitespace.
2. `truncated`: a field left open at its end: an odd number of ``` fence lines, or a field that
   starts like JSON (`{` or `[`) with brackets still open at its end. Limits: prose cut off
   mid-sentence is not detectable from the text alone (a Doc carries no finish_reason, and text
   without final punctuation is too often fine), nor is a fence or bracket that was closed early.
3. `broken_json`: a field named in `json_fields` (judged or not) that does not parse (a
   surrounding ```json fence is allowed, as models often add one). A missing or empty field is
   not JSON to check: `empty` is the rule for that.
4. `too_short` / `too_long`: characters (`min_chars`, `max_chars`), then words
   (`min_words`, `max_words`: whitespace-separated tokens) of the judged text.
5. `refusal`: an LLM refusal phrase ("as an ai language model", "i cannot assist with"...).
6. `boilerplate`: template or filler phrases ("lorem ipsum", "as of my last knowledge update").
7. `non_text`: the share of characters that are neither letters (with their combining marks),
   whitespace nor punctuation (so digits, symbols, emoji, control characters) above
   `max_non_text_ratio`.
8. `repetition`: the share of repeated lines (lines without letters or digits, such as fences
   and `---`, are not counted) above `max_repeated_line_ratio`, or the share of word n-grams
   (`repetition_n`, 3) that are the most frequent one above `max_repeated_ngram_ratio`; the
   n-gram share is only measured on texts of 20 words or more, where one repeat is not already
   a large share.

Phrases match case-insensitively, with curly apostrophes read as straight ones. The judged text
is the record's text fields joined (`fields` restricts it, e.g. to the response field, so a
prompt that quotes a refusal does not count).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from pydantic import Field

from synthloop.curate.base import (
    Context,
    Doc,
    Rejection,
    Step,
    StepOptions,
    StepResult,
    register_step,
)

__all__ = ["DEFAULT_BOILERPLATE", "DEFAULT_REFUSALS", "RulesOptions", "RulesStep"]

DEFAULT_REFUSALS = (
    "as an ai language model",
    "as a language model",
    "as an ai model",
    "as an ai assistant, i cannot",
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i cannot assist with",
    "i can't assist with",
    "i cannot help with that",
    "i can't help with that",
    "i'm unable to help with",
    "i am unable to provide",
    "i cannot fulfill",
    "i can't fulfill",
    "i cannot comply",
    "i must decline",
)
DEFAULT_BOILERPLATE = (
    "lorem ipsum",
    "as of my last knowledge update",
    "as of my knowledge cutoff",
    "i don't have real-time",
    "i do not have access to real-time",
    "[insert ",
    "<insert ",
    "click here to",
    "subscribe to our newsletter",
    "all rights reserved",
)
_NGRAM_MIN_WORDS = 20
_FENCE = re.compile(r"^\s*(```|~~~)", re.MULTILINE)
_JSON_FENCE = re.compile(r"\A```(?:json)?\s*\n(.*)\n```\Z", re.DOTALL | re.IGNORECASE)
_WORD = re.compile(r"\w+")
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
_MAYBE_NON_TEXT = re.compile(r"[^A-Za-z\s.,;:!?'\"()\-]")


class RulesOptions(StepOptions):
    fields: list[str] | None = Field(
        None, description="Text fields the rules judge; null for all of the record's."
    )
    min_chars: int | None = Field(10, ge=0, description="Fewer characters: too_short.")
    max_chars: int | None = Field(100_000, ge=1, description="More characters: too_long.")
    min_words: int | None = Field(2, ge=0, description="Fewer words: too_short.")
    max_words: int | None = Field(20_000, ge=1, description="More words: too_long.")
    max_repeated_line_ratio: float | None = Field(
        0.3, ge=0, le=1, description="Share of non-blank lines repeating an earlier line."
    )
    max_repeated_ngram_ratio: float | None = Field(
        0.2, ge=0, le=1, description="Share of word n-grams that are the most frequent one."
    )
    repetition_n: int = Field(3, ge=1, description="Word n-gram size for the n-gram share.")
    max_non_text_ratio: float | None = Field(
        0.3, ge=0, le=1, description="Share of characters not letters, whitespace, punctuation."
    )
    refusal_phrases: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REFUSALS), description="LLM refusal phrases."
    )
    boilerplate_phrases: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BOILERPLATE), description="Boilerplate phrases."
    )
    check_empty: bool = Field(True, description="Reject a judged field that is empty.")
    check_truncated: bool = Field(True, description="Reject an unclosed fence or JSON bracket.")
    json_fields: list[str] = Field(
        default_factory=list, description="Fields whose text must parse as JSON."
    )


Failure = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Judged:
    """What the rules look at: the record, its judged fields, and those fields joined."""

    doc: Doc
    fields: Mapping[str, str]
    text: str


_Rule = Callable[[RulesOptions, _Judged], Failure | None]


def _normal(text: str) -> str:
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def _empty(cfg: RulesOptions, judged: _Judged) -> Failure | None:
    if not cfg.check_empty:
        return None
    for name, value in judged.fields.items():
        if not value.strip():
            return "empty", {"field": name}
    return None


def _open_brackets(text: str) -> int:
    """Brackets still open at the end of JSON-like text, skipping those inside strings."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif in_string:
            escaped = char == "\\"
            in_string = char != '"'
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
    return depth + in_string


def _truncated(cfg: RulesOptions, judged: _Judged) -> Failure | None:
    if not cfg.check_truncated:
        return None
    for name, value in judged.fields.items():
        fences = len(_FENCE.findall(value))
        if fences % 2:
            return "truncated", {"field": name, "why": "a code fence is left open"}
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and _open_brackets(stripped) > 0:
            return "truncated", {"field": name, "why": "a JSON bracket or string is left open"}
    return None


def _broken_json(cfg: RulesOptions, judged: _Judged) -> Failure | None:
    for name in cfg.json_fields:
        value = judged.doc.texts.get(name, "").strip()
        if not value:
            continue
        fenced = _JSON_FENCE.match(value)
        try:
            orjson.loads(fenced.group(1) if fenced else value)
        except orjson.JSONDecodeError as exc:
            return "broken_json", {"field": name, "error": str(exc)}
    return None


def _length(cfg: RulesOptions, judged: _Judged) -> Failure | None:
    text = judged.text
    chars, words = len(text), len(text.split())
    if cfg.min_chars is not None and chars < cfg.min_chars:
        return "too_short", {"chars": chars, "min_chars": cfg.min_chars}
    if cfg.max_chars is not None and chars > cfg.max_chars:
        return "too_long", {"chars": chars, "max_chars": cfg.max_chars}
    if cfg.min_words is not None and words < cfg.min_words:
        return "too_short", {"words": words, "min_words": cfg.min_words}
    if cfg.max_words is not None and words > cfg.max_words:
        return "too_long", {"words": words, "max_words": cfg.max_words}
    return None


def _phrase(reason: str, phrases: Sequence[str], text: str) -> Failure | None:
    if not phrases:
        return None
    lowered = _normal(text)
    for phrase in phrases:
        if _normal(phrase) in lowered:
            return reason, {"phrase": phrase}
    return None


def _refusal(cfg: RulesOptions, judged: _Judged) -> Failure | None:
    return _phrase("refusal", cfg.refusal_phrases, judged.text)


def _boilerplate(cfg: RulesOptions, judged: _Judged) -> Failure | None:
    return _phrase("boilerplate", cfg.boilerplate_phrases, judged.text)


@cache
def _is_non_text(char: str) -> bool:
    """Digits, symbols, emoji and control characters; letters with their combining marks
    (Devanagari vowel signs, say), whitespace and punctuation are text."""
    return unicodedata.category(char)[0] in "NSC" and not char.isspace()


def _non_text(cfg: RulesOptions, judged: _Judged) -> Failure | None:
    text = judged.text
    if cfg.max_non_text_ratio is None or not text:
        return None
    # The regex skips ASCII letters, whitespace and common punctuation in C; only the rest is
    # looked up one by one.
    ratio = sum(map(_is_non_text, _MAYBE_NON_TEXT.findall(text))) / len(text)
    if ratio > cfg.max_non_text_ratio:
        return "non_text", {"ratio": round(ratio, 4), "max": cfg.max_non_text_ratio}
    return None


def _repetition(cfg: RulesOptions, judged: _Judged) -> Failure | None:
    return _line_repetition(cfg, judged.text) or _ngram_repetition(cfg, judged.text)


def _line_repetition(cfg: RulesOptions, text: str) -> Failure | None:
    limit = cfg.max_repeated_line_ratio
    lines = [s for s in (line.strip() for line in text.splitlines()) if _LETTER_OR_DIGIT.search(s)]
    if limit is None or not lines:
        return None
    ratio = 1 - len(set(lines)) / len(lines)
    if ratio > limit:
        return "repetition", {"repeated_line_ratio": round(ratio, 4), "max": limit}
    return None


def _ngram_repetition(cfg: RulesOptions, text: str) -> Failure | None:
    words = _WORD.findall(text.lower())
    if cfg.max_repeated_ngram_ratio is None or len(words) < _NGRAM_MIN_WORDS:
        return None
    n = cfg.repetition_n
    grams = Counter(zip(*(words[i:] for i in range(n)), strict=False))
    (top, count), total = grams.most_common(1)[0], len(words) - n + 1
    ratio = count / total
    if count > 1 and ratio > cfg.max_repeated_ngram_ratio:
        return "repetition", {
            "ngram": " ".join(top),
            "ngram_ratio": round(ratio, 4),
            "max": cfg.max_repeated_ngram_ratio,
        }
    return None


# The documented order: structure first, then size, then content.
_RULES: tuple[_Rule, ...] = (
    _empty,
    _truncated,
    _broken_json,
    _length,
    _refusal,
    _boilerplate,
    _non_text,
    _repetition,
)


@register_step
class RulesStep(Step):
    """Reject records that fail a quality rule, with the first failing rule's reason."""

    name = "rules"
    per_doc = True
    options = RulesOptions
    config: RulesOptions

    def run(self, docs: Sequence[Doc], context: Context) -> StepResult:
        result = StepResult()
        for doc in docs:
            failure = self.check(doc)
            if failure is not None:
                reason, details = failure
                result.rejected[doc.id] = Rejection(reason, details)
                result.counts[reason] += 1
        return result

    def check(self, doc: Doc) -> Failure | None:
        """The first rule `doc` fails, as (reason, details), or None when it passes them all."""
        fields = self._judged(doc)
        judged = _Judged(doc, fields, "\n\n".join(v for v in fields.values() if v))
        for rule in _RULES:
            failure = rule(self.config, judged)
            if failure is not None:
                return failure
        return None

    def _judged(self, doc: Doc) -> dict[str, str]:
        if self.config.fields is None:
            return dict(doc.texts)
        # A judged field the record lacks counts as empty.
        return {name: doc.texts.get(name, "") for name in self.config.fields}
