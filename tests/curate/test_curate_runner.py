"""The curation runner: steps in order, each seeing what the earlier ones kept (redactions
applied); decisions written in one transaction, nothing deleted; problems reported together.

The steps here are plugins defined by the test (registered exactly as a package's would be),
so the runner's own rules are tested apart from the built-in steps'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

import synthloop
from synthloop.curate import Context, Doc, Rejection, Step, StepOptions, StepResult, register_step
from synthloop.curate.run import CurateError, curate

SETTINGS = {
    "fields": [
        {"name": "prompt", "type": "text"},
        {"name": "chat", "type": "chat", "required": False},
        {"name": "meta", "type": "json", "required": False},
    ],
    "questions": [{"name": "ok", "type": "label", "labels": ["yes", "no"]}],
}


class WordOptions(StepOptions):
    word: str = "spam"


@register_step
class RejectWord(Step):
    """Rejects docs whose text holds a word; counts what it saw."""

    name: ClassVar[str] = "test_reject_word"
    options = WordOptions

    def run(self, docs: Sequence[Doc], context: Context) -> StepResult:
        assert isinstance(self.config, WordOptions)
        result = StepResult()
        for doc in docs:
            result.counts["seen"] += 1
            if self.config.word in doc.text.split():
                result.rejected[doc.id] = Rejection("has_word", {"word": self.config.word})
            else:
                result.notes[doc.id] = {"checked": True}
        return result


@register_step
class RedactDigits(Step):
    """Replaces every digit with '#', in every text it sees."""

    name: ClassVar[str] = "test_redact_digits"

    def run(self, docs: Sequence[Doc], context: Context) -> StepResult:
        result = StepResult()
        for doc in docs:
            changed = {
                name: "".join("#" if ch.isdigit() else ch for ch in text)
                for name, text in doc.texts.items()
                if any(ch.isdigit() for ch in text)
            }
            if changed:
                result.redacted[doc.id] = changed
        return result


@register_step
class RejectDigits(Step):
    """Rejects docs that still hold a digit: proves a later step sees earlier redactions."""

    name: ClassVar[str] = "test_reject_digits"

    def run(self, docs: Sequence[Doc], context: Context) -> StepResult:
        return StepResult(
            rejected={d.id: Rejection("digits") for d in docs if any(ch.isdigit() for ch in d.text)}
        )


def _rows() -> list[dict[str, Any]]:
    return [
        {"id": "a", "fields": {"prompt": "hello world"}},
        {"id": "b", "fields": {"prompt": "buy spam now"}},
        {"id": "c", "fields": {"prompt": "call 555 1234"}},
        {
            "id": "d",
            "fields": {
                "prompt": "chat",
                "chat": [
                    {"role": "user", "content": "my pin is 42\nsecond line 7"},
                    {"role": "assistant", "content": "noted 1"},
                ],
            },
        },
        {"id": "e", "fields": {"prompt": "spam again"}, "status": "accepted"},
    ]


def _by_key(dataset: synthloop.Dataset) -> dict[str, synthloop.Record]:
    return {str(r.external_id): r for r in dataset.records()}


def test_decisions_are_recorded_with_reasons_never_deleted(store: synthloop.Store) -> None:
    dataset = store.create_dataset("d", SETTINGS)
    dataset.add(_rows())
    steps: list[dict[str, Any]] = [
        {"step": "test_reject_word", "word": "spam"},
        {"step": "test_redact_digits"},
        {"step": "test_reject_digits"},
    ]
    report = curate(store, "d", steps)

    assert report.records_in == 4  # pending only: "e" is accepted
    assert report.kept == 3
    assert dict(report.rejected) == {"has_word": 1}
    assert report.redacted == 2
    assert [s.records_in for s in report.steps] == [4, 3, 3]  # "b" never reaches step 2
    assert report.steps[0].counts == {"seen": 4}
    assert report.steps[2].rejected == {}  # redacted before it looked

    records = _by_key(dataset)
    assert len(records) == 5
    assert records["b"].status == "rejected"
    assert records["b"].reason == "has_word"
    assert records["b"].metadata["curation"] == {
        "step": "test_reject_word",
        "reason": "has_word",
        "details": {"word": "spam"},
    }
    assert records["a"].metadata["curation"] == {"test_reject_word": {"checked": True}}
    assert records["c"].fields["prompt"] == "call ### ####"
    assert records["c"].metadata["curation"]["redacted"] == ["prompt"]
    assert records["d"].fields["chat"] == [
        {"role": "user", "content": "my pin is ##\nsecond line #"},
        {"role": "assistant", "content": "noted #"},
    ]
    assert records["e"].status == "accepted"  # not a candidate: untouched
    assert dataset.count(by="reason", status="rejected") == {"has_word": 1}


def test_a_dry_run_changes_nothing(sqlite_store: synthloop.Store) -> None:
    dataset = sqlite_store.create_dataset("d", SETTINGS)
    dataset.add(_rows())
    before = [r.to_dict() for r in dataset.records()]
    report = curate(sqlite_store, "d", [{"step": "test_reject_word"}], dry_run=True)
    assert dict(report.rejected) == {"has_word": 1}
    assert [r.to_dict() for r in dataset.records()] == before


def test_other_statuses_can_be_curated(sqlite_store: synthloop.Store) -> None:
    dataset = sqlite_store.create_dataset("d", SETTINGS)
    dataset.add(_rows())
    report = curate(sqlite_store, "d", [{"step": "test_reject_word"}], statuses=["accepted"])
    assert report.records_in == 1
    assert _by_key(dataset)["e"].status == "rejected"


def test_every_step_problem_is_reported_at_once(sqlite_store: synthloop.Store) -> None:
    sqlite_store.create_dataset("d", SETTINGS)
    with pytest.raises(CurateError) as caught:
        curate(
            sqlite_store,
            "d",
            [{"step": "nope"}, {"step": "test_reject_word", "word": 3, "colour": "red"}],
        )
    text = str(caught.value)
    assert "steps.0 (nope): curation step 'nope' is not known" in text
    assert "steps.1 (test_reject_word)" in text
    assert "word" in text
    assert "colour" in text
