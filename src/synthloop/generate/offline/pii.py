"""PII injection for testing redaction: synthetic but valid-looking personal data, each item
recorded with its type, value and character span so a redaction test can measure recall.

Credit-card numbers pass the Luhn check and IBANs carry valid mod-97 check digits, so a redactor
that validates them still has to find them. All values are made up (example.* domains, the
555 phone range, private-use-looking data); none belongs to a real person by design.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from synthloop.generate.offline.registry import Augmented, register

__all__ = ["PII_TYPES", "iban_check_digits", "luhn_check_digit"]

_FIRST = ["anna", "ben", "chloe", "dev", "eli", "fatima", "george", "hana"]
_LAST = ["smith", "garcia", "kowalski", "nguyen", "okafor", "tanaka", "muller", "rossi"]
# Country: (letters, digits) of the BBAN, bank code letters first.
_IBAN_FORMATS = {"DE": (0, 18), "GB": (4, 14), "FR": (0, 23), "NL": (4, 10)}


def luhn_check_digit(payload: str) -> str:
    """The digit that makes `payload + digit` pass the Luhn check."""
    total = 0
    for i, char in enumerate(reversed(payload)):
        d = int(char) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits of an IBAN (ISO 13616: the whole, rearranged, is 1 mod 97)."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(digits) % 97:02d}"


def _email(rng: random.Random) -> str:
    tld = rng.choice(["com", "org", "net"])
    return f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randint(1, 99)}@example.{tld}"


def _phone(rng: random.Random) -> str:
    return f"+1 ({rng.randint(201, 989)}) 555-{rng.randint(100, 199):04d}"


def _credit_card(rng: random.Random) -> str:
    payload = rng.choice(["4", "51", "52", "53"])
    payload += "".join(str(rng.randint(0, 9)) for _ in range(15 - len(payload)))
    number = payload + luhn_check_digit(payload)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def _iban(rng: random.Random) -> str:
    country = rng.choice(sorted(_IBAN_FORMATS))
    letters, digits = _IBAN_FORMATS[country]
    bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(letters))
    bban += "".join(str(rng.randint(0, 9)) for _ in range(digits))
    return country + iban_check_digits(country, bban) + bban


def _ip(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "email": _email,
    "phone": _phone,
    "credit_card": _credit_card,
    "iban": _iban,
    "ip": _ip,
    "ssn": _ssn,
}
PII_TYPES = tuple(_MAKERS)


@register("pii")
def pii(
    text: str, rng: random.Random, types: Sequence[str] = PII_TYPES, count: int = 1
) -> Augmented:
    """Insert `count` items of the given types at word boundaries of `text`."""
    unknown = [t for t in types if t not in _MAKERS]
    if unknown:
        raise ValueError(f"PII type {unknown[0]!r} is not one of {list(PII_TYPES)}")
    boundaries = [0, *(i for i, c in enumerate(text) if c == " "), len(text)]
    spots = sorted(rng.choice(boundaries) for _ in range(count))
    out: list[str] = []
    items: list[dict[str, Any]] = []
    pos = 0
    for spot in spots:
        kind = rng.choice(list(types))
        value = _MAKERS[kind](rng)
        out.append(text[pos:spot])
        prefix = " " if spot else ""
        start = sum(map(len, out)) + len(prefix)
        out.append(prefix + value + ("" if spot else " "))
        items.append({"type": kind, "value": value, "span": [start, start + len(value)]})
        pos = spot
    out.append(text[pos:])
    return Augmented("".join(out), pii=items)
