"""`synthloop demo`: the whole loop on embedded defaults, offline, with no model.

A project on SQLite in a folder: hand-written customer-support seeds (requests across intents with
candidate replies), offline generation (slot templates, augmentations, edge cases), curation,
pre-labels from a small classifier trained on the seeds, routing under a budget; then either the
web UI for people to annotate (the URL and demo logins are printed) or, with `simulate`,
simulated annotators who answer from the known intents with some noise and correct poor replies;
then aggregation, a version, SFT, DPO and classification exports, the audit report and a summary.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthloop import demo_data
from synthloop.accounts import assign, create_user
from synthloop.audit import audit
from synthloop.curate.run import curate
from synthloop.errors import SynthloopError
from synthloop.export.training import export_version
from synthloop.export.versions import create_version
from synthloop.loop import wait_for_humans
from synthloop.prelabel import prelabel, train
from synthloop.quality.dataset import decide
from synthloop.route import estimate_error, route
from synthloop.simulate import SimulatedAnnotators
from synthloop.store.store import Store, open_store

__all__ = ["DEMO_USERS", "DemoReport", "run"]

NAME = "support"
BUDGET = 40
NOISE = 0.1
CURATION: list[dict[str, Any]] = [
    {"step": "rules"},
    {"step": "pii", "mode": "redact"},
    # 0.9, not the default 0.8: the demo's augmentations (typos, casing) are meant to stay.
    {"step": "dedup", "mode": "near", "threshold": 0.9},
]
# Demo logins for the web UI (a local, throwaway project: printed on purpose).
DEMO_USERS = {"owner": "owner-demo-pass", "ana": "ana-demo-pass", "ben": "ben-demo-pass"}


@dataclass
class DemoReport:
    directory: str
    steps: list[tuple[str, str]] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)
    audit: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "steps": dict(self.steps),
            "exports": self.exports,
            "audit": self.audit,
            "seconds": round(self.seconds, 1),
        }


def run(
    directory: Path,
    *,
    simulate: bool = True,
    port: int = 8000,
    log: Callable[[str], object] | None = print,
    serve: Callable[[Store, int], Any] | None = None,
) -> DemoReport:
    """Run the demo into `directory` (replaced each run); see the module docstring. Without
    `simulate`, `serve(store, port)` starts the web UI (the CLI passes one) and the demo waits
    until people have annotated the queue."""
    began = time.perf_counter()
    say = log or (lambda _line: None)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    report = DemoReport(str(directory))

    def step(label: str, value: str) -> None:
        report.steps.append((label, value))
        say(f"{label}: {value}")

    store = open_store(directory / "synthloop.db")
    dataset = store.create_dataset(NAME, demo_data.settings())
    seeds = demo_data.seed_rows()
    generated = demo_data.generated_rows()
    dataset.add(seeds)
    dataset.add(generated)
    step("records", f"{len(seeds)} hand-written seeds + {len(generated)} generated offline")

    curated = curate(store, NAME, CURATION)
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(curated.rejected.items())) or "none"
    step("curation", f"kept {curated.kept} of {curated.records_in}; rejected: {rejected}")

    truths = demo_data.truths([*seeds, *generated])
    classifier = train(
        [r["fields"]["request"] for r in seeds], [truths[r["id"]].intent for r in seeds]
    )
    step("pre-labels", f"{prelabel(dataset, 'intent', classifier, 'request')} suggestions")

    routed = route(
        store, NAME, budget=BUDGET, strategy=["uncertainty", "diversity"], audit_rate=0.1
    )
    step(
        "routing",
        f"{routed.queued} to humans ({routed.audit} audit), {routed.accepted} auto-accepted, "
        f"{routed.left_pending} left pending",
    )

    if simulate:
        gold = demo_data.gold_intents([*seeds, *generated])
        annotators = SimulatedAnnotators.from_gold_labels(
            gold, noise=NOISE, workers=3, extra=demo_data.reviewer([*seeds, *generated])
        )
        done = annotators.annotate(store, NAME)
        step("annotation", f"{done.submitted} answers from {len(done.users)} simulated annotators")
    else:
        _people(store, port, serve, say)
        step("annotation", "by people through the web UI")

    decide(dataset)
    by_status = dataset.count(by="status")
    step("records by status", ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
    error = estimate_error(dataset)
    step("estimated error of the unreviewed part", _rate(error))

    version = create_version(store, NAME, tag="demo", round=1)
    step(
        "version", f"v{version.number} {version.content_hash[:12]}, {version.record_count} records"
    )
    (directory / "exports").mkdir()
    for fmt in ("sft", "dpo", "classification"):
        out = directory / "exports" / fmt
        try:
            made = export_version(store, NAME, version.number, fmt, out)
        except SynthloopError as exc:  # e.g. no DPO pairs: nobody corrected a reply
            step(f"export {fmt}", f"none: {exc}")
            continue
        report.exports[fmt] = str(out)
        step(f"export {fmt}", f"{_rows(made)} rows in {out}")
    audit_path = directory / "audit.html"
    audit(store, NAME, audit_path)
    report.audit = str(audit_path)
    step("audit", str(audit_path))
    store.close()
    report.seconds = time.perf_counter() - began
    return report


def _people(
    store: Store, port: int, serve: Callable[[Store, int], Any] | None, say: Callable[[str], object]
) -> None:
    for name, password in DEMO_USERS.items():
        create_user(store, name, "owner" if name == "owner" else "annotator", password)
    assign(store, NAME, [n for n in DEMO_USERS if n != "owner"])
    if serve is None:
        raise RuntimeError("the web UI needs a server; run `synthloop demo` from the CLI")
    handle = serve(store, port)
    say(
        f"annotate at http://127.0.0.1:{port}/ as "
        + ", ".join(f"{u} / {p}" for u, p in DEMO_USERS.items())
    )
    try:
        wait_for_humans(log=say).annotate(store, NAME)
    finally:
        stop = getattr(handle, "stop", None)
        if callable(stop):
            stop()


def _rate(error: Any) -> str:
    if error.rate is None:
        return f"not measured ({error.audited} audited)"
    return (
        f"{error.rate:.1%} (95% interval {error.low:.1%}-{error.high:.1%}; "
        f"{error.audited} audited, {error.unreviewed} unreviewed)"
    )


def _rows(made: Any) -> int:
    return sum(made.rows.values())
