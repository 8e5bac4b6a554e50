"""Curation end to end on SQLite and PostgreSQL: planted duplicates, PII, languages, quality
failures and contaminated items, each rejected with its reason and details, exact counts, and
nothing deleted; the same through `synthloop curate` and `synthloop status`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

import synthloop
from helpers import run_cli, write_jsonl
from synthloop.curate.run import curate

SETTINGS = {
    "fields": [{"name": "text", "type": "text"}],
    "questions": [{"name": "ok", "type": "label", "labels": ["yes", "no"]}],
}

BASE = [
    "The quarterly report shows that revenue from the northern region grew faster than "
    "expected, driven mostly by new contracts with regional hospitals and schools.",
    "To reset your router, hold the small button on the back for ten seconds until the "
    "lights blink, then wait two minutes before you reconnect your laptop to the network.",
    "Our hiking club meets every Saturday morning at the old railway station and walks "
    "along the river to the lighthouse, where we share coffee and plan the next trip.",
    "A good sourdough starter needs flour, water and patience; feed it twice a day and keep "
    "it somewhere warm until it doubles in size within six hours of feeding.",
    "The museum's new exhibition follows the history of printed maps, from woodcut atlases "
    "of the sixteenth century to the satellite images used by sailors today.",
    "When the library closes for renovation in March, members can borrow books from the "
    "mobile van that will park outside the town hall every Tuesday and Friday.",
]
EVAL_ITEMS = [
    "which planet in our solar system has the longest day measured against its own year "
    "and why does it rotate so slowly",
    "name the author who wrote a famous novel about a whale hunt told by a sailor who calls "
    "himself ishmael",
]


def _rows() -> list[dict[str, Any]]:
    text = [*BASE]
    near = BASE[1].replace("ten seconds", "fifteen seconds")
    rows = [{"id": f"base{i}", "text": t} for i, t in enumerate(text)]
    rows += [
        {"id": "exact1", "text": "  " + BASE[0].upper() + "  "},  # duplicate of base0
        {"id": "exact2", "text": BASE[0].replace(" ", "   ")},  # duplicate of base0
        {"id": "near1", "text": near},  # near duplicate of base1
        {"id": "pii1", "text": "Write to jane.doe@example.com about the refund for order 4412."},
        {"id": "pii2", "text": "Call me on +44 20 7946 0958 after six, the meeting moved."},
        {
            "id": "de1",
            "text": "Die Bibliothek bleibt im März wegen Renovierung geschlossen, aber "
            "Mitglieder können Bücher aus dem Bus vor dem Rathaus ausleihen.",
        },
        {
            "id": "fr1",
            "text": "La bibliothèque fermera en mars pour des travaux, mais les membres "
            "pourront emprunter des livres au bus garé devant la mairie.",
        },
        {
            "id": "fr2",
            "text": "Notre club de randonnée se retrouve chaque samedi matin à la vieille gare "
            "et marche le long de la rivière jusqu'au phare.",
        },
        {"id": "short1", "text": "ok"},
        {
            "id": "refusal1",
            "text": "I'm sorry, but I can't help with that request because it goes against "
            "the guidelines I follow.",
        },
        {
            "id": "contam1",
            "text": "Quiz time: " + EVAL_ITEMS[0] + "? Answer in one sentence please.",
        },
    ]
    return rows


STEPS: list[dict[str, Any]] = [
    {"step": "rules"},
    {"step": "language", "allow": ["en", "de"]},
    {"step": "pii", "mode": "reject"},
    {"step": "decontaminate", "files": []},  # filled in with the evaluation file
    {"step": "dedup", "mode": "exact"},
    {"step": "dedup", "mode": "near", "threshold": 0.7},
]

EXPECTED = {
    "too_short": 1,
    "refusal": 1,
    "language": 2,
    "pii": 2,
    "contaminated": 1,
    "duplicate": 2,
    "near_duplicate": 1,
}


def _steps(tmp_path: Path) -> list[dict[str, Any]]:
    evals = write_jsonl(tmp_path / "eval.jsonl", [{"question": q} for q in EVAL_ITEMS])
    steps = [dict(s) for s in STEPS]
    steps[3]["files"] = [str(evals)]
    steps[3]["field"] = "question"
    return steps


def test_planted_problems_are_rejected_with_exact_counts(
    store: synthloop.Store, tmp_path: Path
) -> None:
    dataset = store.create_dataset("curate", SETTINGS)
    rows = _rows()
    dataset.add(rows)
    report = curate(store, "curate", _steps(tmp_path))

    assert dict(report.rejected) == EXPECTED
    assert report.records_in == len(rows)
    assert report.kept == len(rows) - sum(EXPECTED.values())
    assert dataset.count() == len(rows)  # nothing deleted
    assert dataset.count(by="reason", status="rejected") == EXPECTED
    records = {r.external_id: r for r in dataset.records()}
    kept = sorted(k for k, r in records.items() if r.status == "pending")
    assert kept == ["base0", "base1", "base2", "base3", "base4", "base5", "de1"]
    assert records["exact1"].metadata["curation"]["details"]["kept"] == "base0"
    assert records["near1"].metadata["curation"]["details"]["kept"] == "base1"
    assert records["pii1"].metadata["curation"]["details"]["types"] == {"email": 1}
    assert records["fr1"].metadata["curation"]["details"]["language"] == "fr"
    assert records["contam1"].metadata["curation"]["details"]["item"] == 0
    assert records["de1"].metadata["curation"]["language"]["language"] == "de"


def test_the_command_prints_counts_by_reason(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with synthloop.open(db) as store:
        store.create_dataset("curate", SETTINGS).add(_rows())
    evals = write_jsonl(tmp_path / "eval.jsonl", [{"text": q} for q in EVAL_ITEMS])
    done = run_cli(
        "curate",
        "curate",
        "--db",
        db,
        "--rules",
        "default",
        "--language",
        "en,de",
        "--pii",
        "reject",
        "--decontaminate",
        str(evals),
        "--dedup",
        "near",
        "--threshold",
        "0.7",
        "--json",
        check=True,
    )
    report = orjson.loads(done.stdout)
    # --dedup near alone: exact copies are near duplicates too (similarity 1.0).
    expected = {**EXPECTED, "near_duplicate": 3}
    del expected["duplicate"]
    assert report["rejected"] == expected
    status = orjson.loads(run_cli("status", "curate", "--db", db, "--json", check=True).stdout)
    assert status["rejected_by_reason"] == expected
    text = run_cli("curate", "curate", "--db", db, "--pii", "flag", check=True).stdout
    assert "7 records in" in text  # the second run sees only the pending ones
