"""Routing under a budget on SQLite and PostgreSQL: the automatic acceptances, the audit sample,
the strategies' choices, the queue's order, and the error estimated from the audit answers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

import synthloop
from synthloop.accounts import assign
from synthloop.cli.route import route as route_command
from synthloop.errors import SynthloopError
from synthloop.quality.dataset import wilson_interval
from synthloop.route import estimate_error, parse_strategies, route
from synthloop.server.queue import lease_next, submit

LABELS = ["refund", "delivery", "other"]
# 20 confident records (0.95), 10 unsure ones (0.10, 0.15 ... 0.55), 2 without a suggestion.
CONFIDENT, UNSURE, BARE = 20, 10, 2


def _settings() -> synthloop.Settings:
    return synthloop.Settings.parse(
        {
            "fields": [{"name": "text", "type": "text"}],
            "questions": [
                {"name": "intent", "type": "label", "labels": LABELS},
                {"name": "note", "type": "text", "required": False},
            ],
            "distribution": {"overlap": 1},
        }
    )


def _suggest(value: str, score: float | None) -> dict[str, Any]:
    return {"intent": {"value": value, "score": score, "agent": "classifier:nb"}}


def _planted(store: synthloop.Store, name: str = "r") -> synthloop.Dataset:
    ds = store.create_dataset(name, _settings())
    rows = [
        {"id": f"c{i}", "text": f"confident {i}", "suggestions": _suggest(LABELS[i % 3], 0.95)}
        for i in range(CONFIDENT)
    ]
    rows += [
        {"id": f"u{i}", "text": f"unsure {i}", "suggestions": _suggest("other", 0.1 + 0.05 * i)}
        for i in range(UNSURE)
    ]
    rows += [{"id": f"b{i}", "text": f"bare {i}"} for i in range(BARE)]
    ds.add(rows)
    return ds


def _by_status(ds: synthloop.Dataset) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for record in ds.records():
        found.setdefault(record.status, set()).add(str(record.external_id))
    return found


def _decisions(ds: synthloop.Dataset) -> Counter[str]:
    return Counter(r.metadata["route"]["decision"] for r in ds.records() if "route" in r.metadata)


def test_route_accepts_audits_and_spends_the_budget_on_the_least_confident(
    store: synthloop.Store,
) -> None:
    ds = _planted(store)
    report = route(store, "r", budget=6, audit_rate=0.1)
    assert (report.pending, report.auto_eligible, report.accepted) == (32, 20, 18)
    assert (report.audit, report.human, report.queued, report.left_pending) == (2, 4, 6, 8)
    statuses = _by_status(ds)
    assert len(statuses["accepted"]) == 18
    # Humans get the audit sample and the four least sure: no suggestion first, then 0.10, 0.15.
    human = {r.external_id for r in ds.records(status="queued")} - {f"c{i}" for i in range(20)}
    assert human == {"b0", "b1", "u0", "u1"}
    assert statuses["pending"] == {f"u{i}" for i in range(2, 10)}
    assert _decisions(ds) == {"auto": 18, "audit": 2, "human": 4}
    for record in ds.records(status="accepted"):
        assert record.final == {"intent": record.suggestions["intent"].value}
        assert record.metadata["route"] == {"decision": "auto", "score": 0.95, "threshold": 0.9}
    for record in ds.records(status="queued"):
        meta = record.metadata["route"]
        if meta["decision"] == "audit":
            assert meta["auto_final"] == {"intent": record.suggestions["intent"].value}
            assert record.final is None
        else:
            assert meta["strategy"] == "uncertainty"
            suggestion = record.suggestions.get("intent")
            sure = 0.0 if suggestion is None else suggestion.score
            assert meta["score"] == pytest.approx(1 - sure)
    assert sorted(r.priority for r in ds.records(status="queued")) == [1, 2, 3, 4, 5, 6]
    again = route(store, "r", budget=6, audit_rate=0.1)  # only the 8 left pending are routed
    assert (again.pending, again.human, again.left_pending, again.accepted) == (8, 6, 2, 0)


def _audited(store: synthloop.Store, name: str, seed: int) -> set[str]:
    _planted(store, name)
    route(store, name, budget=10, audit_rate=0.25, seed=seed)
    return {
        str(r.external_id)
        for r in store.dataset(name).records(status="queued")
        if r.metadata["route"]["decision"] == "audit"
    }


def test_the_audit_sample_is_seeded_uniform_and_inside_the_budget(store: synthloop.Store) -> None:
    first, same = _audited(store, "a", seed=3), _audited(store, "b", seed=3)
    assert first == same
    assert len(first) == 5  # 0.25 of the 20 above the threshold
    assert first <= {f"c{i}" for i in range(20)}
    others = [_audited(store, f"s{seed}", seed) for seed in range(4)]
    assert len({frozenset(s) for s in others}) > 1
    # The audit comes out of the budget first; a smaller budget cuts the sample.
    _planted(store, "small")
    small = route(store, "small", budget=1, audit_rate=0.25)
    assert (small.audit, small.human, small.accepted, small.queued) == (1, 0, 19, 1)
    _planted(store, "none")
    none = route(store, "none", budget=0, audit_rate=0.25)
    assert (none.audit, none.human, none.accepted, none.left_pending) == (0, 0, 20, 12)


def test_the_queue_serves_by_route_priority(store: synthloop.Store) -> None:
    ds = _planted(store)
    route(store, "r", budget=6, audit_rate=0.1)
    store.add_user("ana")
    assign(store, "r", ["ana"])
    served = []
    while (record := lease_next(ds, "ana")) is not None:
        assert record.id is not None
        served.append((record.priority, record.metadata["route"]["decision"]))
        submit(ds, record.id, "ana", {"intent": "other"})
    assert [p for p, _ in served] == [6, 5, 4, 3, 2, 1]
    # The human records in uncertainty order, the two audit records spread among them.
    assert [d for _, d in served] == ["human", "audit", "human", "human", "audit", "human"]


def test_estimate_error_from_the_audit_answers(store: synthloop.Store) -> None:
    ds = _planted(store)
    assert estimate_error(ds).rate is None
    route(store, "r", budget=10, audit_rate=0.25)
    waiting = estimate_error(ds)
    assert (waiting.audited, waiting.waiting, waiting.unreviewed) == (0, 5, 15)
    store.add_user("ana")
    assign(store, "r", ["ana"])
    wrong = 0
    while (record := lease_next(ds, "ana")) is not None:
        assert record.id is not None
        meta = record.metadata["route"]
        answer = "other"
        if meta["decision"] == "audit":
            auto = meta["auto_final"]["intent"]
            # The first two audit records served get a different human answer.
            answer = auto if wrong == 2 else next(label for label in LABELS if label != auto)
            wrong += answer != auto
        submit(ds, record.id, "ana", {"intent": answer, "note": "checked"})
    found = estimate_error(ds)
    low, high = wilson_interval(2, 5) or (None, None)
    assert (found.audited, found.errors, found.unreviewed, found.waiting) == (5, 2, 15, 0)
    assert (found.rate, found.low, found.high) == (0.4, low, high)


def _texts(store: synthloop.Store, texts: list[str]) -> synthloop.Dataset:
    ds = store.create_dataset("d", _settings())
    ds.add([{"id": f"t{i}", "text": text} for i, text in enumerate(texts)])
    return ds


NEAR = [
    f"Where is my refund? I sent the blue jacket back last week and no money came. Order {i}."
    for i in range(30)
]
DISTINCT = [
    "The app logs me out every time I open the settings page on my phone.",
    "Can I change the delivery address of a parcel that already shipped to Berlin?",
    "Your courier left the package in the rain and the book inside is ruined.",
    "How do I cancel my yearly subscription before it renews in March?",
    "Is the steel kettle safe for induction hobs, and what is its capacity?",
]


def test_diversity_avoids_near_identical_texts(store: synthloop.Store) -> None:
    ds = _texts(store, NEAR + DISTINCT)  # no suggestions: every record is equally unsure
    report = route(store, "d", budget=5, strategy="diversity")
    chosen = {r.fields["text"] for r in ds.records(status="queued")}
    assert len(chosen) == 5
    assert len(chosen & set(NEAR)) == 1
    assert report.by_strategy["diversity"]["covered"] == 5
    store.create_dataset("plain", _settings()).add(
        [{"id": f"t{i}", "text": text} for i, text in enumerate(NEAR + DISTINCT)]
    )
    route(store, "plain", budget=5, strategy="uncertainty")  # ties go by id: all near-identical
    plain = {r.fields["text"] for r in store.dataset("plain").records(status="queued")}
    assert plain <= set(NEAR)


def test_random_is_seeded(store: synthloop.Store) -> None:
    picks = []
    for name, seed in (("x", 1), ("y", 1), ("z", 2)):
        _planted(store, name)
        report = route(store, name, budget=5, strategy="random", audit_rate=0.0, seed=seed)
        assert (report.human, report.left_pending) == (5, 7)
        picks.append({r.external_id for r in store.dataset(name).records(status="queued")})
    assert picks[0] == picks[1]
    assert picks[0] != picks[2]


def test_disagreement_among_machine_answers(store: synthloop.Store) -> None:
    ds = store.create_dataset("g", _settings())

    def row(key: str, others: list[str]) -> dict[str, Any]:
        answers = [{"value": v, "agent": f"judge-{j}"} for j, v in enumerate(others)]
        return {
            "id": key,
            "text": key,
            "suggestions": _suggest("refund", 0.5),
            "metadata": {"machine_answers": {"intent": answers}},
        }

    ds.add([row("agree", ["refund", "refund"]), row("split", ["refund", "other"])])
    ds.add([row("three-ways", ["delivery", "other"]), row("alone", [])])
    report = route(store, "g", budget=2, strategy="disagreement")
    assert {r.external_id for r in ds.records(status="queued")} == {"three-ways", "split"}
    scores = {r.external_id: r.metadata["route"]["score"] for r in ds.records(status="queued")}
    assert scores == {"three-ways": pytest.approx(2 / 3), "split": pytest.approx(1 / 3)}
    assert report.by_strategy["disagreement"]["chosen"] == pytest.approx(0.5)


def test_strategies_combine_by_rank(store: synthloop.Store) -> None:
    ds = _planted(store)
    report = route(store, "r", budget=4, strategy="uncertainty,random", audit_rate=0.0)
    assert report.strategies == ["uncertainty", "random"]
    for record in ds.records(status="queued"):
        meta = record.metadata["route"]
        assert set(meta["scores"]) == {"uncertainty", "random"}
        assert 0 < meta["score"] <= 1
    assert parse_strategies(["diversity", "uncertainty,diversity"]) == ["diversity", "uncertainty"]
    with pytest.raises(SynthloopError, match="strategy 'margin' is not one of"):
        route(store, "r", budget=1, strategy="margin")
    with pytest.raises(SynthloopError, match="budget -1 is negative"):
        route(store, "r", budget=-1)
    with pytest.raises(SynthloopError, match=r"threshold 1\.5 is outside 0\.\.1"):
        route(store, "r", budget=1, threshold=1.5)


def test_route_command(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    store = synthloop.open(db)
    try:
        _planted(store)
    finally:
        store.close()
    app = typer.Typer()
    app.command()(route_command)
    app.command("unused")(lambda: None)  # two commands: typer keeps `route` as a subcommand
    runner = CliRunner()
    args = ["route", "r", "--db", db, "--budget", "6", "--audit-rate", "0.1"]
    result = runner.invoke(app, [*args, "--strategy", "uncertainty", "--json"])
    assert result.exit_code == 0, result.output
    body = orjson.loads(result.stdout)
    assert (body["accepted"], body["audit"], body["human"], body["left_pending"]) == (18, 2, 4, 8)
    result = runner.invoke(app, ["route", "r", "--db", db, "--estimate"])
    assert result.exit_code == 0, result.output
    assert "no audit record of dataset 'r' is decided yet (2 waiting)" in result.stdout
    assert "18 records were accepted without review" in result.stdout
    result = runner.invoke(app, ["route", "r", "--db", db, "--budget", "2"])
    assert result.exit_code == 0, result.output
    assert "queued for humans       2" in result.stdout
    result = runner.invoke(app, ["route", "r", "--db", db, "--budget", "1", "--strategy", "x"])
    assert result.exit_code == 1
    assert "strategy 'x' is not one of" in result.output
    result = runner.invoke(app, ["route", "r", "--db", db])
    assert result.exit_code == 2
    assert "--budget" in result.output
