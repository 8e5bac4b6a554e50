"""The rules step: each rule rejects its planted case with its own reason and the measured value,
passes a clean neighbour, and the first failing rule (in the documented order) wins."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

import synthloop
from synthloop.curate.base import Context, Doc, get_step
from synthloop.curate.run import curate
from synthloop.curate.steps.rules import RulesStep

CLEAN = (
    "Photosynthesis turns light into chemical energy. Plants take in carbon dioxide and water, "
    "and with sunlight they make glucose and release oxygen."
)


class NoStore(Context):
    def docs_of(self, dataset: str) -> list[Doc]:
        raise AssertionError("the rules step never reads other datasets")


def check(texts: dict[str, str], **options: Any) -> tuple[str, dict[str, Any]] | None:
    return RulesStep(options).check(Doc(1, "k", texts))


def reason(text: str, **options: Any) -> str | None:
    failure = check({"prompt": "Explain photosynthesis.", "answer": text}, **options)
    return failure[0] if failure else None


def test_a_clean_record_passes_every_default_rule() -> None:
    assert reason(CLEAN) is None


LOOP = " ".join(["I will now repeat myself."] * 6)
PLANTED = [
    ("   \n ", "empty", {"field": "answer"}),
    (
        "```python\nprint('hi')\n",
        "truncated",
        {"field": "answer", "why": "a code fence is left open"},
    ),
    (
        '{"steps": ["mix", "bake"',
        "truncated",
        {"field": "answer", "why": "a JSON bracket or string is left open"},
    ),
    (
        "As an AI language model, I cannot hold opinions. " + CLEAN,
        "refusal",
        {"phrase": "as an ai language model"},
    ),
    (
        "I\u2019m sorry, but I can\u2019t help with that.",
        "refusal",
        {"phrase": "i'm sorry, but i can't"},
    ),
    ("Lorem ipsum dolor sit amet. " + CLEAN, "boilerplate", {"phrase": "lorem ipsum"}),
    # 16 digits, 4 math symbols, 2 currency signs in 43 characters (# and * are punctuation)
    ("0x3F 0x2A 0x11 == 42 ++ 17 ** 9 ## 88 $$ 12", "non_text", {"ratio": 0.5116, "max": 0.3}),
    # 2 of 4 lines repeat an earlier one
    (
        "Step one.\nStep one.\nStep one.\nStep two.",
        "repetition",
        {"repeated_line_ratio": 0.5, "max": 0.3},
    ),
    # "i will now" is 6 of the 28 word 3-grams
    (LOOP, "repetition", {"ngram": "i will now", "ngram_ratio": 0.2143, "max": 0.2}),
]


@pytest.mark.parametrize(("text", "expected", "details"), PLANTED)
def test_each_rule_rejects_its_planted_case(
    text: str, expected: str, details: dict[str, Any]
) -> None:
    assert check({"answer": text}) == (expected, details)


CLEAN_NEIGHBOURS = [
    "```python\nprint('hi')\n```\nThat prints a greeting.",  # closed fence
    '{"steps": ["mix", "bake (at 180 [C]"]}',  # brackets inside a string
    '{"quote": "she said \\"[\\" twice"}',  # escaped quotes inside a string
    "Is this model, as an AI researcher said, any good? " + CLEAN,  # not the refusal phrase
    "Step one: mix.\nStep two: bake.\n```\ncode\n```\n```\nmore\n```",  # fences do not repeat
    "In 2023 about 57% of the 8 billion people lived in cities. " + CLEAN,  # a few digits
    "हिन्दी भारत की एक प्रमुख भाषा है और इसे करोड़ों लोग बोलते हैं।",  # vowel signs are text
]


@pytest.mark.parametrize("text", CLEAN_NEIGHBOURS)
def test_clean_neighbours_pass(text: str) -> None:
    assert reason(text) is None


def test_length_bounds_in_chars_then_words() -> None:
    assert check({"a": "Hi there"}) == ("too_short", {"chars": 8, "min_chars": 10})
    assert check({"a": "Supercalifragilistic"}) == ("too_short", {"words": 1, "min_words": 2})
    chars, words = len(CLEAN), len(CLEAN.split())
    assert check({"a": CLEAN}, max_chars=50) == ("too_long", {"chars": chars, "max_chars": 50})
    assert check({"a": CLEAN}, max_words=10) == ("too_long", {"words": words, "max_words": 10})
    assert check({"a": "Hi there"}, min_chars=None) is None


def test_json_fields_must_parse_and_may_be_fenced() -> None:
    failure = check({"q": CLEAN, "out": "{'a': 1}"}, json_fields=["out"])
    assert failure is not None
    assert failure[0] == "broken_json"
    assert failure[1]["field"] == "out"
    assert "error" in failure[1]
    assert check({"q": CLEAN, "out": '{"a": [1, 2]}'}, json_fields=["out"]) is None
    assert check({"q": CLEAN, "out": '```json\n{"a": 1}\n```'}, json_fields=["out"]) is None
    # A JSON field outside `fields` is still checked; a missing one is not JSON to check.
    failure = check({"q": CLEAN, "out": "[1, 2,]"}, json_fields=["out"], fields=["q"])
    assert failure is not None
    assert failure[0] == "broken_json"
    assert check({"q": CLEAN}, json_fields=["out"]) is None


def test_fields_restricts_what_is_judged() -> None:
    texts = {"prompt": "What does 'as an AI language model' mean?", "answer": CLEAN}
    assert check(texts) == ("refusal", {"phrase": "as an ai language model"})
    assert check(texts, fields=["answer"]) is None
    assert check(texts, fields=["answer", "missing"]) == ("empty", {"field": "missing"})


def test_the_first_failing_rule_wins_in_the_documented_order() -> None:
    # Empty beats everything; truncated beats refusal; refusal beats boilerplate and repetition.
    assert check({"a": "", "b": "As an AI language model ```"}) == ("empty", {"field": "a"})
    text = "As an AI language model, lorem ipsum.\n```"
    assert check({"a": text})[0] == "truncated"  # type: ignore[index]
    text = "As an AI language model, lorem ipsum.\nlorem ipsum.\nlorem ipsum."
    assert check({"a": text})[0] == "refusal"  # type: ignore[index]


def test_rules_switch_off_and_counts_are_by_reason() -> None:
    docs = [
        Doc(1, "a", {"t": CLEAN}),
        Doc(2, "b", {"t": ""}),
        Doc(3, "c", {"t": "As an AI language model, I cannot do that."}),
        Doc(4, "d", {"t": "As an AI language model, I will not."}),
        Doc(5, "e", {"t": LOOP}),
    ]
    result = get_step("rules")({}).run(docs, NoStore())
    assert {i: r.reason for i, r in result.rejected.items()} == {
        2: "empty",
        3: "refusal",
        4: "refusal",
        5: "repetition",
    }
    assert dict(result.counts) == {"empty": 1, "refusal": 2, "repetition": 1}
    assert result.notes == {}

    off = RulesStep(
        {
            "check_empty": False,
            "refusal_phrases": [],
            "max_repeated_ngram_ratio": None,
            "min_chars": None,
            "min_words": None,
        }
    ).run(docs, NoStore())
    assert off.rejected == {}


def test_bad_options_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="less than or equal to 1"):
        RulesStep({"max_non_text_ratio": 3})
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        RulesStep({"min_length": 3})


def test_through_the_runner_each_reason_is_stored(sqlite_store: synthloop.Store) -> None:
    settings = {"fields": [{"name": "prompt", "type": "text"}, {"name": "answer", "type": "text"}]}
    dataset = sqlite_store.create_dataset("d", settings)
    dataset.add(
        [
            {"id": "ok", "fields": {"prompt": "Explain photosynthesis.", "answer": CLEAN}},
            {"id": "refusal", "fields": {"prompt": "Do it.", "answer": "I cannot assist with it."}},
            {"id": "loop", "fields": {"prompt": "Count.", "answer": LOOP}},
        ]
    )
    report = curate(sqlite_store, "d", [{"step": "rules"}])  # what `--rules default` asks
    assert dict(report.rejected) == {"refusal": 1, "repetition": 1}
    records = {r.external_id: r for r in dataset.records()}
    assert records["ok"].status == "pending"
    assert records["refusal"].metadata["curation"] == {
        "step": "rules",
        "reason": "refusal",
        "details": {"phrase": "i cannot assist with"},
    }
    assert records["loop"].reason == "repetition"
