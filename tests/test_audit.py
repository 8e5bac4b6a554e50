"""The audit report: exact numbers on a dataset built to produce them, a page that parses, holds
every section, escapes what it shows and asks for nothing from the network."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

import synthloop
from synthloop.audit import AuditReport, audit
from synthloop.cli.audit import audit as audit_command

SETTINGS = {
    "fields": [{"name": "prompt", "type": "text"}, {"name": "response", "type": "markdown"}],
    "questions": [
        {"name": "intent", "type": "label", "labels": ["refund", "delivery", "other"]},
        {"name": "quality", "type": "rating", "values": [1, 2, 3, 4, 5]},
        {"name": "order", "type": "ranking", "options": ["a", "b", "c"], "required": False},
        {"name": "corrected", "type": "text", "prefill": "response", "required": False},
    ],
    "distribution": {"overlap": 2},
}
SCRIPT = "<script>alert(1)</script>"
SECTIONS = [
    "overview",
    "distributions",
    "lengths",
    "curation",
    "corrections",
    "judge",
    "annotators",
    "balance",
]


def _answer(user: str, status: str = "submitted", **values: Any) -> dict[str, Any]:
    return {"user": user, "values": values, "status": status}


def _judge(value: int) -> dict[str, Any]:
    return {"value": value, "score": None, "agent": "judge:m2"}


def _row(rid: str, prompt: str, response: str, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "fields": {"prompt": prompt, "response": response}, **extra}


def _synthetic(model: str, task: str, round: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"source": "synthetic", "model": model, "task": task}
    if round is not None:
        found["round"] = round
    return found


ENGLISH = {"curation": {"language": {"language": "en", "confidence": 0.9}}}
ROWS = [
    _row(
        "r1",
        "She wants her money back",
        "Refund started.",
        provenance=_synthetic("m1", "qa", 1),
        metadata=ENGLISH,
        status="accepted",
        final={"intent": "refund", "quality": 4, "corrected": "Refund started."},
        suggestions={
            "quality": _judge(4),
            "intent": {"value": "refund", "score": 0.9, "agent": "classifier:nb"},
        },
        responses=[
            _answer(
                "ana", intent="refund", quality=4, corrected="Refund started. ", order=list("abc")
            ),
            _answer(
                "ben", intent="refund", quality=5, corrected="Refund started.", order=list("acb")
            ),
        ],
    ),
    _row(
        "r2",
        "Where is my parcel? He asked twice",
        "Parcel arrives Friday.",
        provenance=_synthetic("m1", "qa", 1),
        metadata=ENGLISH,
        status="accepted",
        final={"intent": "delivery", "quality": 2, "corrected": "Parcel arrives Monday."},
        suggestions={"quality": _judge(4)},
        responses=[
            _answer(
                "ana",
                intent="delivery",
                quality=2,
                corrected="Parcel arrives Monday.",
                order=list("bac"),
            ),
            _answer(
                "ben",
                intent="delivery",
                quality=3,
                corrected="Parcel arrives Monday.",
                order=list("abc"),
            ),
        ],
    ),
    _row(
        "r3",
        "My account is locked",
        "Reset it.",
        provenance=_synthetic("m2", "chat"),
        metadata={"round": 2},
        status="annotated",
        suggestions={"quality": _judge(1), "order": {"value": list("cab"), "agent": "rank:x"}},
        responses=[
            _answer(
                "cy", intent="other", quality=1, corrected="Use the reset link.", order=list("cba")
            )
        ],
    ),
    _row(
        "r4",
        "The man bought a gift card",
        "Thanks!",
        provenance={"source": "human"},
        suggestions={"intent": {"value": "other", "score": 0.6, "agent": "classifier:nb"}},
        responses=[_answer("dee", "draft", quality=5, order=list("abc"))],
    ),
    _row(
        "r5",
        "dup text",
        "dup reply",
        provenance={"source": "imported"},
        status="rejected",
        reason="duplicate",
    ),
    _row(
        "r6",
        "call 555",
        "ok",
        provenance={"source": "imported"},
        status="rejected",
        reason="pii",
        metadata={"curation": {"step": "pii", "reason": "pii", "details": {"types": {"phone": 1}}}},
    ),
    _row(
        "r7",
        "Mail me at <EMAIL>",
        "Sure.",
        provenance=_synthetic("m1", "qa"),
        metadata={"curation": {"pii": {"types": {"email": 1}}, "redacted": ["prompt"]}},
        suggestions={"intent": {"value": "refund", "score": 0.7, "agent": "classifier:nb"}},
    ),
    _row(
        "r8", "", "", provenance=_synthetic("m1", "qa"), status="failed", reason="model timed out"
    ),
    _row(
        "r9",
        "Gift cards?",
        "Yes.",
        provenance={"source": "imported", "model": SCRIPT},
        suggestions={"intent": {"value": "other", "score": 0.5, "agent": "classifier:nb"}},
    ),
]


@pytest.fixture
def audited(sqlite_store: synthloop.Store, tmp_path: Path) -> tuple[AuditReport, str]:
    sqlite_store.create_dataset("audit", SETTINGS).add(ROWS)
    out = tmp_path / "report.html"
    report = audit(sqlite_store, "audit", out)
    return report, out.read_text(encoding="utf-8")


def test_overview_and_distributions(audited: tuple[AuditReport, str]) -> None:
    report, _ = audited
    assert report.records == 9
    assert report.statuses == {
        "accepted": 2, "annotated": 1, "failed": 1, "pending": 3, "rejected": 2,
    }  # fmt: skip
    assert report.sources == {"human": 1, "imported": 3, "synthetic": 5}
    intent = next(d for d in report.distributions if d.question == "intent")
    assert intent.values == ["refund", "delivery", "other"]
    # final, else the humans' answer, else the suggestion; rejected and failed left out
    assert intent.by["source"] == {
        "human": {"refund": 0, "delivery": 0, "other": 1},
        "imported": {"refund": 0, "delivery": 0, "other": 1},
        "synthetic": {"refund": 2, "delivery": 1, "other": 1},
    }
    assert intent.by["model"] == {
        "(none)": {"refund": 0, "delivery": 0, "other": 1},
        SCRIPT: {"refund": 0, "delivery": 0, "other": 1},
        "m1": {"refund": 2, "delivery": 1, "other": 0},
        "m2": {"refund": 0, "delivery": 0, "other": 1},
    }
    assert intent.by["language"] == {
        "(none)": {"refund": 1, "delivery": 0, "other": 3},
        "en": {"refund": 1, "delivery": 1, "other": 0},
    }
    assert intent.by["round"] == {
        "(none)": {"refund": 1, "delivery": 0, "other": 2},
        "1": {"refund": 1, "delivery": 1, "other": 0},
        "2": {"refund": 0, "delivery": 0, "other": 1},
    }
    quality = next(d for d in report.distributions if d.question == "quality")
    assert quality.by["source"] == {"synthetic": {"1": 1, "2": 1, "3": 0, "4": 1, "5": 0}}


def test_lengths(audited: tuple[AuditReport, str]) -> None:
    report, _ = audited
    prompt = next(length for length in report.lengths if length.field == "prompt")
    longest = len("Where is my parcel? He asked twice")  # 34: bins 4 characters wide
    assert prompt.edges == list(range(0, 44, 4))
    synthetic = prompt.by_source["synthetic"]
    sizes = [len("She wants her money back"), longest, len("My account is locked"), 18]
    assert (synthetic.count, synthetic.min, synthetic.max) == (4, 18, longest)
    assert synthetic.mean == sum(sizes) / 4
    assert synthetic.median == (20 + 24) / 2
    assert synthetic.bins == [0, 0, 0, 0, 1, 1, 1, 0, 1, 0]
    assert prompt.by_source["imported"].count == 1  # r9; rejected r5 and r6 left out
    assert [length.field for length in report.lengths] == ["prompt", "response"]


def test_duplicates_and_pii(audited: tuple[AuditReport, str]) -> None:
    curation = audited[0].curation
    assert curation.records == 8  # every record but the failed one
    assert curation.counts == {
        "duplicate": 1, "near_duplicate": 0, "pii_rejected": 1, "pii_flagged": 1, "redacted": 1,
    }  # fmt: skip
    assert curation.rates["duplicate"] == 1 / 8
    assert curation.rates["near_duplicate"] == 0
    assert curation.by_source["imported"] == {
        "records": 3, "duplicate": 1, "near_duplicate": 0, "pii_rejected": 1, "pii_flagged": 0,
        "redacted": 0,
    }  # fmt: skip
    assert curation.by_source["synthetic"]["records"] == 4
    assert curation.by_source["synthetic"]["pii_flagged"] == 1


def test_corrections_worst_first(audited: tuple[AuditReport, str]) -> None:
    rows = [
        (c.question, c.task, c.model, c.reviewed, c.corrected, c.rate)
        for c in audited[0].corrections
    ]
    # r1's final equals its response (an annotator's trailing space does not count); r2 and r3
    # were rewritten; r7 has no human answer
    assert rows == [("corrected", "chat", "m2", 1, 1, 1.0), ("corrected", "qa", "m1", 2, 1, 0.5)]


def test_judge_against_humans(audited: tuple[AuditReport, str]) -> None:
    (row,) = audited[0].judge  # the classifier's suggestions are no judge's
    assert (row.question, row.agent, row.pairs, row.exact) == ("quality", "judge:m2", 3, 2)
    assert row.exact_share == pytest.approx(2 / 3)
    assert row.mean_abs_diff == pytest.approx(2 / 3)  # |4-4|, |4-2|, |1-1|
    # observed 2/3, chance 1/3: (2/3 - 1/3) / (1 - 1/3)
    assert row.kappa == pytest.approx(0.5)
    # quadratic: 1 - (4/3) / 4
    assert row.weighted_kappa == pytest.approx(2 / 3)


def test_leniency_and_position_bias(audited: tuple[AuditReport, str]) -> None:
    report, _ = audited
    # submitted ratings 4, 5, 2, 3, 1 (dee's draft does not count): overall mean 3
    assert [
        (r.annotator, r.answers, r.mean, r.overall_mean, r.difference) for r in report.leniency
    ] == [
        ("ana", 2, 3.0, 3.0, 0.0),
        ("ben", 2, 4.0, 3.0, 1.0),
        ("cy", 1, 1.0, 3.0, -2.0),
    ]
    (bias,) = report.position_bias
    # shown first: 'a', except on r3 whose suggestion ['c', 'a', 'b'] sets the order
    assert (bias.question, bias.answers, bias.first_shown_first) == ("order", 5, 4)
    assert bias.share == pytest.approx(0.8)
    assert bias.expected_share == pytest.approx(1 / 3)


def test_balance_counts(audited: tuple[AuditReport, str]) -> None:
    (intent,) = audited[0].balance
    assert (intent.question, intent.records) == ("intent", 6)
    assert intent.counts == {"refund": 2, "delivery": 1, "other": 3}
    female, male = intent.groups
    assert (female.group, female.records, female.counts) == (
        "female",
        1,
        {"refund": 1, "delivery": 0, "other": 0},
    )
    assert female.distance == pytest.approx(2 / 3)
    assert (male.group, male.records, male.counts) == (
        "male",
        2,
        {"refund": 0, "delivery": 1, "other": 1},
    )
    assert male.distance == pytest.approx(1 / 3)
    assert not female.flagged  # too few records to flag
    assert not male.flagged


def test_balance_flags_a_group_that_differs(sqlite_store: synthloop.Store, tmp_path: Path) -> None:
    rows = [
        _row(f"f{i}", f"she asked {i}", "ok", final={"intent": "refund"}, status="accepted")
        for i in range(5)
    ] + [
        _row(f"o{i}", f"they asked {i}", "ok", final={"intent": "other"}, status="accepted")
        for i in range(5)
    ]
    sqlite_store.create_dataset("bal", SETTINGS).add(rows)
    terms = {"female": ["she"], "plural": ["they"], "nobody": ["zzz"]}
    report = audit(sqlite_store, "bal", tmp_path / "r.html", terms=terms)
    groups = {g.group: g for g in report.balance[0].groups}
    assert groups["female"].counts == {"refund": 5, "delivery": 0, "other": 0}
    assert groups["female"].distance == pytest.approx(0.5)
    assert groups["female"].flagged
    assert groups["plural"].flagged
    assert (groups["nobody"].records, groups["nobody"].distance, groups["nobody"].flagged) == (
        0,
        None,
        False,
    )
    assert report.terms == terms


class _Page(HTMLParser):
    """Checks tags nest and close, and collects ids, links and text."""

    VOID = frozenset(
        {"meta", "link", "br", "hr", "img", "input", "area", "base", "col", "source", "wbr"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.ids: list[str] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name in ("src", "href", "xlink:href", "action") and value is not None:
                self.links.append(value)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    assert page.problems == []
    assert page.stack == []
    return page


def test_page_is_well_formed_escaped_and_offline(audited: tuple[AuditReport, str]) -> None:
    report, html = audited
    page = _parse(html)
    assert [i for i in page.ids if i in SECTIONS] == SECTIONS
    assert "svg" in page.tags
    assert "script" not in page.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the planted model name, escaped
    assert SCRIPT in "".join(page.text)  # and shown as text
    assert all(link.startswith("#") for link in page.links), page.links
    assert "http://" not in html
    assert "https://" not in html
    assert "No data" not in html  # every section has something
    assert str(report.out).endswith("report.html")


def test_empty_dataset_says_no_data(sqlite_store: synthloop.Store, tmp_path: Path) -> None:
    sqlite_store.create_dataset("empty", SETTINGS)
    report = audit(sqlite_store, "empty", tmp_path / "empty.html")
    assert report.records == 0
    assert (report.lengths, report.corrections, report.judge, report.balance) == ([], [], [], [])
    assert report.curation.rates["duplicate"] is None
    html = (tmp_path / "empty.html").read_text(encoding="utf-8")
    page = _parse(html)
    assert [i for i in page.ids if i in SECTIONS] == SECTIONS
    assert html.count("No data") == 9  # every section; annotators twice (leniency, position)


def test_dataset_without_questions(sqlite_store: synthloop.Store, tmp_path: Path) -> None:
    settings = {"fields": [{"name": "text", "type": "text"}]}
    sqlite_store.create_dataset("plain", settings).add([{"text": "a she"}, {"text": "bb"}])
    report = audit(sqlite_store, "plain", tmp_path / "plain.html")
    assert (report.distributions, report.balance, report.leniency) == ([], [], [])
    assert report.lengths[0].by_source["imported"].count == 2
    html = (tmp_path / "plain.html").read_text(encoding="utf-8")
    _parse(html)
    assert "No data: no answered label, multi-label or rating question." in html


def test_to_dict_is_json(audited: tuple[AuditReport, str]) -> None:
    data = orjson.loads(orjson.dumps(audited[0].to_dict()))
    assert data["judge"][0]["pairs"] == 3
    assert data["curation"]["counts"]["duplicate"] == 1


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so `audit` is a subcommand as it will be
    app.command("audit")(audit_command)
    return app


def _run(*args: str) -> Any:
    result = CliRunner().invoke(_cli(), list(args), env={"SYNTHLOOP_DB": None})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_cli(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with synthloop.open(db) as store:
        store.create_dataset("support", SETTINGS).add(ROWS)
    out = tmp_path / "page.html"
    result = _run("audit", "support", "--db", str(db), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"support: audited 9 records; wrote {out}" in result.stdout
    assert "duplicates 1, PII 2 of 8 records" in result.stdout
    assert "most corrected: chat / m2 (1 of 1)" in result.stdout
    assert out.exists()
    result = _run("audit", "support", "--db", str(db), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["records"] == 9


def test_cli_terms_and_errors(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with synthloop.open(db) as store:
        store.create_dataset("support", SETTINGS).add(ROWS)
    terms = tmp_path / "terms.yaml"
    terms.write_text("parcel: [parcel]\n")
    args = ["audit", "support", "--db", str(db), "--out", str(tmp_path / "p.html")]
    result = _run(*args, "--terms", str(terms), "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["terms"] == {"parcel": ["parcel"]}
    terms.write_text("parcel: 3\n")
    result = _run(*args, "--terms", str(terms))
    assert result.exit_code == 1
    assert "group 'parcel' needs a list of words, got 3" in result.stderr
    result = _run("audit", "nope", "--db", str(db), "--out", str(tmp_path / "n.html"))
    assert result.exit_code == 1
    assert "dataset 'nope' does not exist" in result.stderr
    result = _run(*args[:-1], str(tmp_path / "missing" / "p.html"))
    assert result.exit_code == 1
    assert "cannot write the audit report to" in result.stderr
