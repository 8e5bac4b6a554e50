"""The `pii` step with an NER model: person names from a local spaCy pipeline are flagged,
redacted as `<PERSON>` and rejected alongside the pattern types, pattern finds win overlaps, and
a ner_model that is not a pipeline folder (or a missing spaCy) is refused saying what to do.

The pipeline is built here, offline: a blank English pipeline with an entity ruler that knows a
few names, saved with `nlp.to_disk`, as a trained model would be."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import spacy

import synthloop
from synthloop.curate.base import Context, Doc, Rejection
from synthloop.curate.run import CurateError, build_steps, curate
from synthloop.curate.steps.pii import PiiStep, redact
from synthloop.errors import SynthloopError

PATTERNS = [
    {"label": "PERSON", "pattern": "Jane Doe"},
    {"label": "PERSON", "pattern": [{"LOWER": "maria"}, {"LOWER": "garcia"}]},
    {"label": "PER", "pattern": "Ahmed Khan"},  # WikiNER's label, as German models use
    {"label": "PERSON", "pattern": "jane.doe@example.com"},  # a model may tag an address
    {"label": "ORG", "pattern": "Acme Corp"},  # not a person
]


def save_pipeline(folder: Path) -> Path:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(PATTERNS)  # type: ignore[attr-defined]
    nlp.to_disk(folder)
    return folder


@pytest.fixture(scope="module")
def ner(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_pipeline(tmp_path_factory.mktemp("models") / "ner"))


class NoOtherDatasets(Context):
    def docs_of(self, dataset: str) -> list[Doc]:
        return []


def doc(i: int, **texts: str) -> Doc:
    return Doc(id=i, key=f"k{i}", texts=texts)


DOCS = [
    doc(1, prompt="Ask Jane Doe about it.", reply="Mail jane.doe@example.com or Ahmed Khan."),
    doc(2, prompt="Acme Corp shipped order 48392011 in 2023.", reply="Nobody was named."),
    doc(3, prompt="maria garcia called 212-555-0123.", reply=""),
    doc(4, prompt="Card 4111 1111 1111 1111", reply="Server 10.0.0.1 logged it."),
]
COUNTS = Counter(person=3, email=1, phone=1, credit_card=1, ip_address=1)


def test_flag_counts_person_names_with_the_other_types(ner: str) -> None:
    result = PiiStep({"ner_model": ner}).run(DOCS, NoOtherDatasets())
    assert result.notes == {
        1: {"types": {"email": 1, "person": 2}},
        3: {"types": {"person": 1, "phone": 1}},
        4: {"types": {"credit_card": 1, "ip_address": 1}},
    }
    assert result.rejected == {}
    assert result.redacted == {}
    assert result.counts == COUNTS


def test_redact_replaces_names_by_person_placeholders(ner: str) -> None:
    result = PiiStep({"mode": "redact", "ner_model": ner}).run(DOCS, NoOtherDatasets())
    assert result.redacted == {
        # The model's tag on the address loses to the email pattern: one <EMAIL>.
        1: {"prompt": "Ask <PERSON> about it.", "reply": "Mail <EMAIL> or <PERSON>."},
        3: {"prompt": "<PERSON> called <PHONE>."},
        4: {"prompt": "Card <CREDIT_CARD>", "reply": "Server <IP_ADDRESS> logged it."},
    }
    assert result.counts == COUNTS


def test_reject_gives_person_among_the_types(ner: str) -> None:
    result = PiiStep({"mode": "reject", "ner_model": ner}).run(DOCS, NoOtherDatasets())
    assert result.rejected == {
        1: Rejection("pii", {"types": {"email": 1, "person": 2}}),
        3: Rejection("pii", {"types": {"person": 1, "phone": 1}}),
        4: Rejection("pii", {"types": {"credit_card": 1, "ip_address": 1}}),
    }
    assert result.notes == {}


def test_no_person_flagged_on_texts_without_names(ner: str) -> None:
    texts = [
        doc(i, text=t)
        for i, t in enumerate(
            [
                "Acme Corp reported revenue of 4.2 million in 2023.",
                "Jane and Doe are two words here, not the name.",
                "The doe ran past Khan Academy.",
                "",
            ]
        )
    ]
    result = PiiStep({"ner_model": ner}).run(texts, NoOtherDatasets())
    assert result.notes == {}
    assert result.counts == Counter()


def test_types_without_person_leave_the_model_unused(ner: str) -> None:
    step = PiiStep({"mode": "redact", "types": ["email"], "ner_model": ner})
    result = step.run(DOCS, NoOtherDatasets())
    assert result.redacted == {1: {"reply": "Mail <EMAIL> or Ahmed Khan."}}
    assert step._nlp is None


def test_without_ner_model_person_finds_nothing() -> None:
    result = PiiStep({"types": ["person"]}).run(DOCS, NoOtherDatasets())
    assert result.notes == {}
    assert redact("Ask Jane Doe.") == ("Ask Jane Doe.", Counter())


def test_the_pipeline_is_loaded_once_per_step(ner: str) -> None:
    step = PiiStep({"ner_model": ner})
    step.run(DOCS[:1], NoOtherDatasets())
    nlp = step._nlp
    assert nlp is not None
    step.run(DOCS[2:], NoOtherDatasets())
    assert step._nlp is nlp


def test_an_installed_package_folder_is_accepted(tmp_path: Path) -> None:
    # `python -m spacy download` installs a package whose folder holds one versioned pipeline.
    package = tmp_path / "en_names"
    package.mkdir()
    save_pipeline(package / "en_names-1.0.0")
    (package / "__init__.py").write_text("")
    result = PiiStep({"ner_model": str(package)}).run(DOCS[:1], NoOtherDatasets())
    assert result.counts == Counter(person=2, email=1)


def test_a_ner_model_that_is_not_a_pipeline_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CurateError) as caught:
        build_steps(
            [
                {"step": "pii", "ner_model": "en_core_web_sm"},
                {"step": "pii", "ner_model": str(tmp_path / "empty")},
            ]
        )
    message = str(caught.value)
    assert "steps.0 (pii): ner_model: Value error, ner_model 'en_core_web_sm' is not a folder" in (
        message
    )
    assert "nothing is downloaded" in message
    assert "`python -m spacy download en_core_web_sm`" in message
    assert "pip install 'synthloop[ner]'" in message
    assert f"steps.1 (pii): ner_model: Value error, ner_model folder '{tmp_path / 'empty'}'" in (
        message
    )
    assert "holds no spaCy pipeline (no config.cfg" in message


def test_a_missing_spacy_names_the_extra(ner: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spacy", None)  # `import spacy` now fails
    with pytest.raises(SynthloopError, match=r"pip install 'synthloop\[ner\]'"):
        PiiStep({"ner_model": ner})
    with pytest.raises(CurateError, match=r"steps.0 \(pii\): .*needs spaCy, which is not"):
        build_steps([{"step": "pii", "ner_model": ner}])
    PiiStep({"ner_model": ner, "types": ["email"]})  # no names wanted: no spaCy needed


def test_through_the_runner_names_are_redacted_in_the_store(
    sqlite_store: synthloop.Store, ner: str
) -> None:
    dataset = sqlite_store.create_dataset("d", {"fields": [{"name": "prompt", "type": "text"}]})
    dataset.add([{"id": "a", "fields": {"prompt": "Jane Doe wrote this."}}])
    dataset.add([{"id": "b", "fields": {"prompt": "Nobody wrote this."}}])
    report = curate(sqlite_store, "d", [{"step": "pii", "mode": "redact", "ner_model": ner}])
    assert report.redacted == 1
    assert report.steps[0].counts == {"person": 1}
    records = {r.external_id: r for r in dataset.records()}
    assert records["a"].fields["prompt"] == "<PERSON> wrote this."
    assert records["b"].fields["prompt"] == "Nobody wrote this."
