"""The language step: records in a language outside the allow-list are rejected with the
language and lingua's confidence; short or unclear texts are undetermined and kept (or not)."""

from __future__ import annotations

import pydantic
import pytest

import synthloop
from synthloop.curate.base import Context, Doc, get_step
from synthloop.curate.run import curate
from synthloop.curate.steps.language import UNDETERMINED, LanguageStep

TEXTS = {
    "en": [
        "The committee met on Tuesday to discuss the budget for the coming year.",
        "I usually take the train to work because the roads are always crowded.",
        "Could you explain why the results of the experiment were so different?",
    ],
    "de": [
        "Der Ausschuss hat sich am Dienstag getroffen, um den Haushalt zu besprechen.",
        "Ich fahre meistens mit dem Zug zur Arbeit, weil die Straßen immer voll sind.",
        "Kannst du mir erklären, warum die Ergebnisse des Versuchs so verschieden waren?",
    ],
    "fr": [
        "Le comité s'est réuni mardi pour discuter du budget de l'année prochaine.",
        "Je prends généralement le train pour aller au travail car les routes sont bondées.",
        "Pourriez-vous expliquer pourquoi les résultats de l'expérience étaient si différents ?",
    ],
    "es": [
        "El comité se reunió el martes para hablar del presupuesto del próximo año.",
        "Normalmente tomo el tren para ir al trabajo porque las carreteras están llenas.",
        "¿Podrías explicar por qué los resultados del experimento fueron tan distintos?",
    ],
}


class NoStore(Context):
    def docs_of(self, dataset: str) -> list[Doc]:
        raise AssertionError("the language step never reads other datasets")


def planted() -> tuple[list[Doc], dict[int, str]]:
    docs, truth = [], {}
    for lang, texts in TEXTS.items():
        for text in texts:
            doc_id = len(docs) + 1
            docs.append(Doc(doc_id, f"k{doc_id}", {"prompt": text}))
            truth[doc_id] = lang
    return docs, truth


def test_planted_languages_outside_the_allow_list_are_rejected() -> None:
    docs, truth = planted()
    result = LanguageStep({"allow": ["en", "de"]}).run(docs, NoStore())

    assert sorted(result.rejected) == sorted(i for i, lang in truth.items() if lang in ("fr", "es"))
    assert len(result.rejected) == 6
    for doc_id, rejection in result.rejected.items():
        assert rejection.reason == "language"
        assert rejection.details["language"] == truth[doc_id]
        assert rejection.details["allowed"] == ["en", "de"]
        assert 0.5 <= rejection.details["confidence"] <= 1.0
    assert {i: n["language"] for i, n in result.notes.items()} == {
        i: lang for i, lang in truth.items() if lang in ("en", "de")
    }
    assert dict(result.counts) == {"en": 3, "de": 3, "fr": 3, "es": 3}


def test_short_texts_are_undetermined_and_kept_unless_asked() -> None:
    docs = [
        Doc(1, "a", {"prompt": "Bonjour!"}),  # under min_chars
        Doc(2, "b", {"prompt": "1234 5678 90 == 42 ++ 17"}),  # no letters: no language
        Doc(3, "c", {"prompt": TEXTS["en"][0]}),
    ]
    kept = LanguageStep({"allow": ["en"]}).run(docs, NoStore())
    assert kept.rejected == {}
    assert kept.notes[1] == {"language": UNDETERMINED, "confidence": None}
    assert kept.notes[2]["language"] == UNDETERMINED
    assert kept.notes[3]["language"] == "en"
    assert dict(kept.counts) == {UNDETERMINED: 2, "en": 1}

    strict = LanguageStep({"allow": ["en"], "keep_undetermined": False}).run(docs, NoStore())
    assert sorted(strict.rejected) == [1, 2]
    assert strict.rejected[1].details["language"] == UNDETERMINED


def test_below_min_confidence_the_language_is_undetermined() -> None:
    mixed = Doc(
        1, "a", {"prompt": "The committee met on Tuesday. Der Ausschuss hat sich getroffen."}
    )
    loans = Doc(2, "b", {"prompt": "Hotel Taxi Restaurant Pizza Radio Piano"})  # many languages'
    result = LanguageStep({"allow": ["en"]}).run([mixed, loans], NoStore())
    assert result.rejected[1].details["language"] == "de"  # lingua: de 0.66, en 0.21
    assert result.notes[2]["language"] == UNDETERMINED  # top confidence 0.21

    result = LanguageStep({"allow": ["en"], "min_confidence": 0.8}).run([mixed], NoStore())
    assert result.rejected == {}
    assert result.notes[1]["language"] == UNDETERMINED


def test_the_detector_chooses_among_candidates_not_only_the_allowed() -> None:
    spanish = Doc(1, "a", {"prompt": TEXTS["es"][0]})
    # Built from English and Portuguese only, lingua calls Spanish Portuguese, sure of it:
    # which is why the default candidates hold 25 languages.
    narrow = LanguageStep({"allow": ["en"], "candidates": ["pt"]}).run([spanish], NoStore())
    assert narrow.rejected[1].details["language"] == "pt"
    wide = LanguageStep({"allow": ["en"]}).run([spanish], NoStore())
    assert wide.rejected[1].details["language"] == "es"


def test_fields_are_joined_and_the_step_is_registered() -> None:
    doc = Doc(1, "a", {"prompt": TEXTS["de"][0], "answer": TEXTS["de"][1]})
    step = get_step("language")({"allow": ["de"]})
    assert step.run([doc], NoStore()).notes[1]["language"] == "de"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"allow": ["english"]}, "'english' is not an ISO 639-1 code"),
        ({"allow": []}, "at least 1 item"),
        ({"allow": ["en"], "candidates": ["xx", "yy"]}, "'xx', 'yy' are not ISO 639-1 codes"),
        ({"allow": ["en"], "min_confidence": 2}, "less than or equal to 1"),
        ({"allow": ["en"], "threshold": 0.5}, "Extra inputs are not permitted"),
    ],
)
def test_bad_options_say_what_is_wrong(options: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        LanguageStep(options)


def test_through_the_runner_decisions_and_notes_are_stored(
    sqlite_store: synthloop.Store,
) -> None:
    dataset = sqlite_store.create_dataset("d", {"fields": [{"name": "prompt", "type": "text"}]})
    dataset.add(
        [
            {"id": "en", "fields": {"prompt": TEXTS["en"][0]}},
            {"id": "fr", "fields": {"prompt": TEXTS["fr"][0]}},
            {"id": "short", "fields": {"prompt": "Ok."}},
        ]
    )
    report = curate(sqlite_store, "d", [{"step": "language", "allow": ["en", "de"]}])
    assert dict(report.rejected) == {"language": 1}
    assert report.steps[0].counts == {"en": 1, "fr": 1, UNDETERMINED: 1}
    records = {r.external_id: r for r in dataset.records()}
    assert records["fr"].status == "rejected"
    assert records["fr"].metadata["curation"]["details"]["language"] == "fr"
    assert records["en"].metadata["curation"]["language"]["language"] == "en"
    assert records["short"].metadata["curation"]["language"] == {
        "language": UNDETERMINED,
        "confidence": None,
    }
