"""The `pii` step: every type found in its usual layouts with its exact span, validators that
turn away look-alikes, no flags on texts full of numbers that are not personal data, and the
flag, redact and reject modes with their counts."""

from __future__ import annotations

import random
from collections import Counter

import pydantic
import pytest

from synthloop.curate.base import Context, Doc, Rejection, get_step
from synthloop.curate.pii_detect import detect, iban_valid, luhn_valid, ssn_valid
from synthloop.curate.steps.pii import PiiOptions, PiiStep, redact
from synthloop.generate.offline.pii import iban_check_digits, luhn_check_digit, pii


class NoOtherDatasets(Context):
    def docs_of(self, dataset: str) -> list[Doc]:
        return []


def found(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in detect(text)]


FORMATS = [
    ("email", "anna.smith9@example.com"),
    ("email", "ops+alerts@mail.example.co.uk"),
    ("email", "A_B-c%d@sub-domain.example.org"),
    ("phone", "+1 (212) 555-0123"),
    ("phone", "+1-212-555-0123"),
    ("phone", "(212) 555-0123"),
    ("phone", "212-555-0123"),
    ("phone", "212.555.0123"),
    ("phone", "1-800-555-0199"),
    ("phone", "+44 20 7946 0958"),
    ("phone", "+442079460958"),
    ("phone", "+49 30 1234567"),
    ("phone", "+33 1 23 45 67 89"),
    ("phone", "020 7946 0958"),
    ("phone", "07700 900123"),
    ("credit_card", "4111 1111 1111 1111"),
    ("credit_card", "4111-1111-1111-1111"),
    ("credit_card", "5500005555555559"),
    ("credit_card", "3782 822463 10005"),
    ("credit_card", "6011 0009 9013 9424"),
    ("credit_card", "2221 0000 0000 0009"),
    ("iban", "DE89370400440532013000"),
    ("iban", "DE89 3704 0044 0532 0130 00"),
    ("iban", "GB29 NWBK 6016 1331 9268 19"),
    ("iban", "FR1420041010050500013M02606"),
    ("iban", "NL91ABNA0417164300"),
    ("ip_address", "192.168.1.10"),
    ("ip_address", "8.8.8.8"),
    ("ip_address", "2001:db8::1"),
    ("ip_address", "fe80::1ff:fe23:4567:890a"),
    ("ip_address", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ("ip_address", "::ffff:192.0.2.1"),
    ("url", "https://example.com/a/b?c=1&d=2"),
    ("url", "http://example.org"),
    ("url", "www.example.net/path"),
    ("us_ssn", "123-45-6789"),
    ("us_ssn", "078 05 1120"),
    ("us_ssn", "899-99-9999"),
]


@pytest.mark.parametrize(("kind", "value"), FORMATS)
def test_each_type_is_found_with_its_exact_span(kind: str, value: str) -> None:
    for text in (value, f"Reach it at {value}.", f"({value}), then", f"x: {value}\nnext"):
        assert found(text) == [(kind, value)], text


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # Luhn fails
        "4111111111111112",
        "9999 9999 9999 9995",  # Luhn passes, no card network starts with 9
        "1234 5678 9012 3452",  # Luhn passes, prefix 1
        "DE88370400440532013000",  # check digits wrong
        "DE8937040044053201300",  # one digit short for DE
        "XX89370400440532013000",  # no such country
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        "256.1.1.1",
        "10.0.0.01",
        "1.2.3",
        "12:30:45",
    ],
)
def test_validators_turn_away_look_alikes(text: str) -> None:
    assert found(text) == []


def test_validators() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB82 WEST 1234 5698 7654")
    assert ssn_valid("123", "45", "6789")
    assert not ssn_valid("987", "65", "4320")


DISTRACTORS = [
    "In 2023 we sold 1,250 units; in 1999, 980.",
    "The total was $1,299.99 (or €45.50, £3.20 per item) on 2024-01-15.",
    "Order #48392011 and order 4839201123 shipped on 15.01.2023 at 12:30:45.",
    "Upgrade from v3.12.1 to version 2.4.10.3, or build 1.0.0.0 (see 3.11.7).",
    "Dates: 01/15/2024, 2024/01/15, 15-01-2024, Jan 15 2024.",
    "ISBN 978-3-16-148410-0; tracking 1Z999AA10123456784; ref 2024-0001-77.",
    "Plain numbers 42, 3.14159, 1234567, 10,000,000, 0.000001 and 2 x 500 ml.",
    "Room 101-22, floor 3, gate B12, flight LH 400, seat 23A, 9:45 am.",
    "Coordinates 48.8584, 2.2945; ratio 16:9; score 3-1; pages 120-135.",
    "A 16-digit order id 1234567812345678 and a 10-digit one 5551234567.",
    "Call the 24/7 desk, extension 4021, or press 1 then 0.",
    "std::vector<int> v; a::b; time 10:30; C++ and the + 1 2 3 sign.",
    "Mail us at the office, visit example dot com, or write to Anna.",
]


def test_no_flags_on_texts_without_personal_data() -> None:
    assert {text: found(text) for text in DISTRACTORS} == {text: [] for text in DISTRACTORS}


def test_planted_items_are_recovered_exactly() -> None:
    """The offline `pii` augmentation plants items with their spans: all come back, nothing
    else does, over texts that also hold distractors (but the version line: an item planted
    between "version" and its number leaves a bare 2.4.10.3, which is an IPv4 address)."""
    hosts = [text for text in DISTRACTORS if "version" not in text]
    rng = random.Random(7)
    names = {"ip": "ip_address", "ssn": "us_ssn"}
    planted: Counter[str] = Counter()
    for i in range(300):
        made = pii(hosts[i % len(hosts)], rng, count=1 + i % 3)
        expected = [(names.get(p["type"], p["type"]), *p["span"]) for p in made.pii]
        planted.update(kind for kind, _, _ in expected)
        assert [(f.type, f.start, f.end) for f in detect(made.text)] == expected, made.text
    assert sum(planted.values()) == 600
    assert set(planted) == {"email", "phone", "credit_card", "iban", "ip_address", "us_ssn"}


def test_person_names_need_an_ner_model_and_none_is_installed() -> None:
    assert detect("Anna Smith met George Okafor in Paris.", ["person"]) == []


def doc(i: int, **texts: str) -> Doc:
    return Doc(id=i, key=f"k{i}", texts=texts)


DOCS = [
    doc(1, prompt="Write to anna@example.com or bob@example.org.", reply="Call 212-555-0123."),
    doc(2, prompt="Nothing here but order #48392011 from 2023.", reply="OK."),
    doc(3, prompt="Card 4111 1111 1111 1111", reply="Server 10.0.0.1 logged it."),
]


def test_flag_notes_the_types_and_keeps_everything() -> None:
    result = PiiStep().run(DOCS, NoOtherDatasets())
    assert result.rejected == {}
    assert result.redacted == {}
    assert result.notes == {
        1: {"types": {"email": 2, "phone": 1}},
        3: {"types": {"credit_card": 1, "ip_address": 1}},
    }
    assert result.counts == Counter(email=2, phone=1, credit_card=1, ip_address=1)


def test_redact_replaces_items_by_typed_placeholders_field_by_field() -> None:
    result = PiiStep({"mode": "redact"}).run(DOCS, NoOtherDatasets())
    assert result.redacted == {
        1: {"prompt": "Write to <EMAIL> or <EMAIL>.", "reply": "Call <PHONE>."},
        3: {"prompt": "Card <CREDIT_CARD>", "reply": "Server <IP_ADDRESS> logged it."},
    }
    assert result.notes[1] == {"types": {"email": 2, "phone": 1}}
    assert result.rejected == {}
    assert result.counts == Counter(email=2, phone=1, credit_card=1, ip_address=1)


def test_redact_only_rewrites_the_fields_that_hold_personal_data() -> None:
    one = doc(
        9, a="plain text", b="see https://example.com/x, then 123-45-6789 and +1 212 555 0123"
    )
    result = PiiStep({"mode": "redact"}).run([one], NoOtherDatasets())
    assert result.redacted == {9: {"b": "see <URL>, then <US_SSN> and <PHONE>"}}


def test_reject_gives_the_types_found_as_the_reason() -> None:
    result = PiiStep({"mode": "reject"}).run(DOCS, NoOtherDatasets())
    assert result.rejected == {
        1: Rejection("pii", {"types": {"email": 2, "phone": 1}}),
        3: Rejection("pii", {"types": {"credit_card": 1, "ip_address": 1}}),
    }
    assert result.notes == {}
    assert result.redacted == {}
    assert result.counts == Counter(email=2, phone=1, credit_card=1, ip_address=1)


def test_types_limit_what_is_looked_for() -> None:
    result = PiiStep({"mode": "reject", "types": ["credit_card", "iban"]}).run(
        DOCS, NoOtherDatasets()
    )
    assert result.rejected == {3: Rejection("pii", {"types": {"credit_card": 1}})}
    assert redact("a@example.com 10.0.0.1", ["ip_address"]) == (
        "a@example.com <IP_ADDRESS>",
        Counter(ip_address=1),
    )


def test_ibans_and_cards_made_by_the_offline_generator_redact_exactly() -> None:
    payload = "453201511283036"
    card = payload + luhn_check_digit(payload)
    bban = "NWBK60161331926819"[4:]
    iban = "GB" + iban_check_digits("GB", "NWBK" + bban) + "NWBK" + bban
    text = f"Pay {iban} with {card}; receipt to r@example.com."
    assert redact(text) == (
        "Pay <IBAN> with <CREDIT_CARD>; receipt to <EMAIL>.",
        Counter(iban=1, credit_card=1, email=1),
    )


def test_options_are_checked() -> None:
    assert PiiOptions().mode == "flag"
    assert "person" in PiiOptions().types
    with pytest.raises(pydantic.ValidationError, match="flag"):
        PiiStep({"mode": "mask"})
    with pytest.raises(pydantic.ValidationError, match="passport"):
        PiiStep({"types": ["passport"]})
    with pytest.raises(pydantic.ValidationError, match="extra"):
        PiiStep({"modes": "flag"})


def test_the_step_is_registered_by_name() -> None:
    assert get_step("pii") is PiiStep
