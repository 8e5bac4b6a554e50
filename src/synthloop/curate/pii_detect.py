"""Find personal data in text: compiled patterns, each candidate checked by a validator.

A pattern alone flags too much (every 16-digit order number, every dotted version string), so
each type has a cheap pattern for candidates and a validator that decides: cards pass Luhn and
start with a card network's prefix, IBANs have their country's length and check to 1 mod 97,
IP addresses parse (`ipaddress`), SSNs avoid the ranges never issued (area 000, 666, 9xx;
group 00; serial 0000), phone numbers need a `+` country code or a national shape (NANP
`(212) 555-0123`, or a trunk `0` and 10-11 digits) with separators, so years, prices, dates and
plain numbers never qualify. Where two candidates overlap, the one that starts first and is
longest wins (a URL holding an IP address is one URL), except that phone numbers are looked for
last, around the items already found: a phone pattern runs on into the card or SSN after it.

Person names need an NER model, which patterns cannot stand in for; none ships with synthloop
and nothing is downloaded, so `detect` finds no `person`. Given a local spaCy pipeline (an
optional extra), `load_ner` loads it and `names_in` returns its PERSON (or PER) entities as
`person` items; `merged` adds them to the pattern finds, which win any overlap (a name the
model saw inside an email address is part of the address).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from synthloop.errors import SynthloopError

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = [
    "PII_TYPES",
    "Found",
    "card_valid",
    "detect",
    "iban_valid",
    "load_ner",
    "luhn_valid",
    "merged",
    "names_in",
    "ner_folder",
    "require_spacy",
    "ssn_valid",
]

PII_TYPES: Final = (
    "email",
    "phone",
    "credit_card",
    "iban",
    "ip_address",
    "url",
    "us_ssn",
    "person",
)


@dataclass(frozen=True, slots=True)
class Found:
    """One item of personal data: its type and its span `text[start:end]`."""

    type: str
    start: int
    end: int


# ----------------------------------------------------------------------------- validators


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


# Card networks by prefix and length, so a Luhn-valid order number (1 in 10 of them) is not a card.
_CARD_PREFIXES: Final = re.compile(
    r"4\d{12}(?:\d{3}){0,2}"  # Visa 13, 16, 19
    r"|5[1-5]\d{14}|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)\d{12}"  # Mastercard
    r"|3[47]\d{13}"  # American Express
    r"|3(?:0[0-5]|[68]\d)\d{11,16}"  # Diners Club
    r"|6(?:011|5\d\d|4[4-9]\d)\d{12,15}"  # Discover
    r"|35(?:2[89]|[3-8]\d)\d{12,15}"  # JCB
    r"|62\d{14,17}"  # UnionPay
)


def card_valid(digits: str) -> bool:
    """Whether a string of digits is a card number: a network's prefix and length, and Luhn."""
    return _CARD_PREFIXES.fullmatch(digits) is not None and luhn_valid(digits)


# ISO 13616 registry: total IBAN length by country.
_IBAN_LENGTHS: Final = {
    **dict.fromkeys(["NO"], 15),
    **dict.fromkeys(["BE"], 16),
    **dict.fromkeys(["DK", "FI", "FK", "FO", "GL", "NL", "SD"], 18),
    **dict.fromkeys(["MK", "SI"], 19),
    **dict.fromkeys(["AT", "BA", "EE", "KZ", "LT", "LU", "MN", "XK"], 20),
    **dict.fromkeys(["CH", "HR", "LI", "LV"], 21),
    **dict.fromkeys(["BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA"], 22),
    **dict.fromkeys(["AE", "GI", "IL", "IQ", "OM", "SO", "TL"], 23),
    **dict.fromkeys(["AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"], 24),
    **dict.fromkeys(["LY", "PT", "ST"], 25),
    **dict.fromkeys(["IS", "TR"], 26),
    **dict.fromkeys(["BI", "DJ", "FR", "GR", "IT", "MC", "MR", "SM"], 27),
    **dict.fromkeys(["AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "NI", "PL", "SV"], 28),
    **dict.fromkeys(["BR", "EG", "PS", "QA", "UA"], 29),
    **dict.fromkeys(["JO", "KW", "MU", "YE"], 30),
    **dict.fromkeys(["MT", "SC"], 31),
    **dict.fromkeys(["LC"], 32),
    **dict.fromkeys(["RU"], 33),
}


def iban_valid(iban: str) -> bool:
    """Whether `iban` (spaces allowed) has its country's length and checks to 1 mod 97."""
    compact = iban.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """Whether an SSN's parts lie in ranges the SSA issues."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# ----------------------------------------------------------------------------- patterns

# What may not come right after a number for it to end there: a word character, a dash, or a
# decimal point or thousands separator followed by a digit.
_END = r"(?![\w-]|[.,]\d)"
_EMAIL: Final = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w@])"
)
_URL: Final = re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING: Final = ".,;:!?)]}'\""
# Printed groupings (4-4-4-4[-3]; Amex 4-6-5; Diners 4-6-4) or 13-19 digits in one run.
_CARD: Final = re.compile(
    r"(?<![\w.,:/-])(?:\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?"
    r"|\d{4}([ -])\d{6}\2\d{4,5}|\d{13,19})" + _END
)
_IBAN: Final = re.compile(
    r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)\b"
)
_IPV4: Final = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
# "version 1.2.0.0" is four numbers up to 255 too.
_VERSION_BEFORE: Final = re.compile(r"(?:version|release|build)\s+$", re.IGNORECASE)
_IPV6: Final = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?"
    r"(?![\w:]|\.\d)"
)
_SSN: Final = re.compile(r"(?<![\w:/-])(\d{3})([- ])(\d{2})\2(\d{4})" + _END)
# Phone numbers, three shapes: international (+country code), NANP ((212) 555-0123,
# 1-800-555-0199) and national with a trunk 0 (020 7946 0958). Groups after the first have two
# digits or more, so "+44 20 7946 0958 2 times" stops before the "2".
_PHONE_INTL: Final = re.compile(
    r"(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\))?[ .-]?\d{1,5}(?:[ .-]?\d{2,5}){0,5}" + _END
)
_PHONE_NANP: Final = re.compile(
    r"(?<![\w+.,:/-])(?:1([ .-]))?(?:\([2-9]\d\d\) ?|[2-9]\d\d([ .-]))[2-9]\d\d([ .-])\d{4}" + _END
)
_PHONE_TRUNK: Final = re.compile(r"(?<![\w+.,:/-])0\d{1,4}([ -])\d{2,6}(?:\1\d{2,4}){0,3}" + _END)
_DIGIT: Final = re.compile(r"\d")


def _emails(text: str) -> Iterator[Found]:
    if "@" in text:
        for m in _EMAIL.finditer(text):
            yield Found("email", m.start(), m.end())


def _urls(text: str) -> Iterator[Found]:
    if "://" in text or "www." in text or "WWW." in text:
        for m in _URL.finditer(text):
            end = m.end()
            while text[end - 1] in _URL_TRAILING:
                end -= 1
            if end - m.start() > 7:
                yield Found("url", m.start(), end)


def _cards(text: str) -> Iterator[Found]:
    pos = 0
    while m := _CARD.search(text, pos):
        value = m.group()
        if m.group(1) and len(value) > 19 and not card_valid(_compact(value)):
            value = value[:19]  # 4-4-4-4 then a number that only looked like a 19-digit tail
        if card_valid(_compact(value)):
            yield Found("credit_card", m.start(), m.start() + len(value))
            pos = m.start() + len(value)
        else:
            pos = m.start() + 1  # a card may start inside a run that failed: "0958 4111 1111..."


def _compact(value: str) -> str:
    return value.replace(" ", "").replace("-", "")


def _ibans(text: str) -> Iterator[Found]:
    for m in _IBAN.finditer(text):
        length = _IBAN_LENGTHS.get(m.group()[:2])
        if length is None:
            continue
        # A grouped IBAN may have swallowed a following capitalised word: cut it to length.
        end, seen = m.start(), 0
        while seen < length and end < m.end():
            seen += text[end] != " "
            end += 1
        at_boundary = end == m.end() or text[end] == " "
        if seen == length and at_boundary and iban_valid(text[m.start() : end]):
            yield Found("iban", m.start(), end)


def _ips(text: str) -> Iterator[Found]:
    if "." in text:
        for m in _IPV4.finditer(text):
            parts = m.group().split(".")
            version = _VERSION_BEFORE.search(text, max(0, m.start() - 10), m.start())
            if version is None and all(int(p) <= 255 and (p == "0" or p[0] != "0") for p in parts):
                yield Found("ip_address", m.start(), m.end())
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            if _ipv6_valid(m.group()):
                yield Found("ip_address", m.start(), m.end())


def _ipv6_valid(value: str) -> bool:
    # Two groups and a digit at least: "::", "a::b" (C++ scopes) are not addresses in prose.
    if sum(1 for g in re.split(r"[:.]", value) if g) < 2 or _DIGIT.search(value) is None:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _ssns(text: str) -> Iterator[Found]:
    for m in _SSN.finditer(text):
        if ssn_valid(m.group(1), m.group(3), m.group(4)):
            yield Found("us_ssn", m.start(), m.end())


def _phones(text: str) -> Iterator[Found]:
    for m in _PHONE_INTL.finditer(text) if "+" in text else ():
        end = _trimmed(text, m.start(), m.end(), _international_ok)
        if end:
            yield Found("phone", m.start(), end)
    for m in _PHONE_NANP.finditer(text):
        # One separator style (212-555-0123, 1.212.555.0123), not a mix; "(212) " sets none.
        if len({s for s in m.group(1, 2, 3) if s is not None}) == 1:
            yield Found("phone", m.start(), m.end())
    for m in _PHONE_TRUNK.finditer(text):
        end = _trimmed(text, m.start(), m.end(), lambda v: 10 <= _digits(v) <= 11)
        if end:
            yield Found("phone", m.start(), end)


# Digits after the country code for common codes (the rest: 8-15 in all, E.164's bounds), so
# "+1 (355) 555-0196 39.157.86.56" stops after the 10 digits a +1 number has.
_NATIONAL_DIGITS: Final = {
    "1": (10, 10),
    "7": (10, 10),
    "31": (9, 9),
    "33": (9, 9),
    "34": (9, 9),
    "44": (9, 10),
    "49": (6, 13),
    "61": (9, 9),
    "81": (9, 10),
    "86": (10, 11),
    "91": (10, 10),
}
_COUNTRY_CODE: Final = re.compile(r"\+(\d{1,3})(?=[ .(-])")


def _international_ok(value: str) -> bool:
    digits = _digits(value)
    spaced = _COUNTRY_CODE.match(value)
    code = (
        spaced.group(1)
        if spaced
        else next((value[1 : 1 + n] for n in (1, 2) if value[1 : 1 + n] in _NATIONAL_DIGITS), "")
    )
    low, high = _NATIONAL_DIGITS.get(code, (8 - len(code), 15 - len(code)))
    return low <= digits - len(code) <= high and digits >= 8


def _trimmed(text: str, start: int, end: int, ok: Callable[[str], bool]) -> int:
    """The end of the longest prefix of `text[start:end]`, cut at a separator, that is `ok` (a
    number the pattern ran into is left out), or 0."""
    while end > start:
        if ok(text[start:end]):
            return end
        cut = max(text.rfind(sep, start, end) for sep in " .-")
        end = cut if cut > start else 0
    return 0


def _digits(value: str) -> int:
    return sum(c.isdigit() for c in value)


# Phone numbers come last, looked for in the text with the other items blanked out: a phone
# number's pattern would run on into a card or an SSN right after it ("+49 30 1234567
# 849-92-4585"), and those are the stronger evidence (checksums, fixed shapes).
_FINDERS: Final[dict[str, Callable[[str], Iterator[Found]]]] = {
    "email": _emails,
    "url": _urls,
    "iban": _ibans,
    "credit_card": _cards,
    "ip_address": _ips,
    "us_ssn": _ssns,
}
_NEEDS_DIGITS: Final = frozenset({"iban", "credit_card", "ip_address", "us_ssn", "phone"})


def detect(text: str, types: Iterable[str] = PII_TYPES) -> list[Found]:
    """The personal data in `text` of the given types, in order, without overlaps.

    `person` is accepted and finds nothing (no NER model; see the module docstring)."""
    wanted = set(types)
    if _DIGIT.search(text) is None:
        wanted -= _NEEDS_DIGITS
    found: list[Found] = []
    for kind, finder in _FINDERS.items():
        if kind in wanted:
            found.extend(finder(text))
    found = _without_overlaps(found)
    if "phone" in wanted:
        found.extend(_phones(_blanked(text, found)))
        found = _without_overlaps(found)
    return found


def _blanked(text: str, found: list[Found]) -> str:
    """`text` with the found items overwritten by NULs, which no pattern matches."""
    if not found:
        return text
    parts, pos = [], 0
    for item in found:
        parts += [text[pos : item.start], "\0" * (item.end - item.start)]
        pos = item.end
    parts.append(text[pos:])
    return "".join(parts)


def _without_overlaps(found: list[Found]) -> list[Found]:
    kept: list[Found] = []
    for item in sorted(found, key=lambda f: (f.start, f.start - f.end)):
        if not kept or item.start >= kept[-1].end:
            kept.append(item)
    return kept


# ----------------------------------------------------------------------------- person names

# PERSON in OntoNotes pipelines (en_*), PER in WikiNER ones (de_*, xx_*).
_NER_LABELS: Final = frozenset({"PERSON", "PER"})
# Components an NER model does not need; disabled, so a full pipeline runs only its NER part.
_NOT_NER: Final = frozenset(
    {"tagger", "parser", "lemmatizer", "attribute_ruler", "morphologizer", "senter", "textcat"}
)
_INSTALL_HINT: Final = (
    "on a machine with network, `pip install 'synthloop[ner]'` and `python -m spacy download"
    " en_core_web_sm`, then give the installed package's folder (`python -c 'import"
    " en_core_web_sm; print(en_core_web_sm.__path__[0])'`) or a folder `nlp.to_disk` wrote"
)


def require_spacy() -> None:
    """Raise SynthloopError unless spaCy can be imported."""
    try:
        import spacy  # noqa: F401
    except ImportError:
        raise SynthloopError(
            "the pii step's ner_model needs spaCy, which is not installed;"
            " install it with `pip install 'synthloop[ner]'`"
        ) from None


def ner_folder(value: str) -> Path:
    """The folder holding the spaCy pipeline `value` names: `value` itself when `nlp.to_disk`
    wrote it, or its one versioned subfolder when it is an installed pipeline package. Raises
    ValueError saying what to give instead; nothing is downloaded."""
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise ValueError(
            f"ner_model {value!r} is not a folder; give the path of a local spaCy pipeline"
            f" (nothing is downloaded): {_INSTALL_HINT}"
        )
    if (folder / "config.cfg").is_file():
        return folder
    inner = [d for d in folder.iterdir() if (d / "config.cfg").is_file()]
    if len(inner) != 1:
        raise ValueError(
            f"ner_model folder {value!r} holds no spaCy pipeline (no config.cfg in it or in"
            f" one subfolder); give a folder `nlp.to_disk` wrote: {_INSTALL_HINT}"
        )
    return inner[0]


def load_ner(value: str) -> Language:
    """The spaCy pipeline at `value` (see `ner_folder`), with its non-NER components off."""
    require_spacy()
    import spacy

    nlp = spacy.load(ner_folder(value))
    for name in _NOT_NER.intersection(nlp.pipe_names):
        nlp.disable_pipe(name)
    return nlp


def names_in(nlp: Language, texts: Sequence[str]) -> list[list[Found]]:
    """The person names the pipeline finds in each text, as `person` items; one batched pass."""
    nlp.max_length = max(nlp.max_length, *(len(t) + 1 for t in texts), 0)
    return [
        [Found("person", e.start_char, e.end_char) for e in doc.ents if e.label_ in _NER_LABELS]
        for doc in nlp.pipe(texts)
    ]


def merged(found: list[Found], names: Iterable[Found]) -> list[Found]:
    """`found` (pattern finds, in order) with the `names` that overlap none of them, in order."""
    extra = [n for n in names if not any(n.start < f.end and f.start < n.end for f in found)]
    return sorted([*found, *extra], key=lambda f: f.start) if extra else found
