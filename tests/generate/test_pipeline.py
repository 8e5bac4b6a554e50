"""`generate` end to end: recipes through the real OpenAI-compatible client to the local
ChatServer (faults, storms, off-schema answers), into a real SQLite file and a real PostgreSQL
schema. Every input ends as exactly one record; the counts, the stored reasons and the server's
request log agree; a run again sends only what is missing; caps stop a run cleanly.

The only stand-in is the LLM: ChatServer, a real aiohttp server on a thread. Delays are tiny
(Retry-After "0", millisecond backoff, a one-second client timeout for stalls); nothing here
measures time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

import synthloop
from helpers import run_cli, write_jsonl
from synthloop.generate.budget import UnpricedModel
from synthloop.generate.llm.testing import ChatServer, Fault
from synthloop.generate.pipeline import GenerateReport, generate
from synthloop.generate.recipe import Recipe

MODEL = "any-model"
FAST = {"base_delay": 0.001, "max_delay": 0.01}
# Above an ordinary answer's time on a loaded machine, so only stalls time out.
STALL_TIMEOUT = 1.0

Serve = Callable[..., ChatServer]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a ChatServer with these options; every one started is stopped after the test."""
    started: list[ChatServer] = []

    def start(**options: Any) -> ChatServer:
        server = ChatServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def prompts(folder: Path, count: int) -> Path:
    return write_jsonl(
        folder / "prompts.jsonl", [{"prompt": f"Question number {i}?"} for i in range(count)]
    )


def recipe(server: ChatServer, source: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A `responses` recipe (as the mapping a YAML file holds) against `server`."""
    data: dict[str, Any] = {
        "dataset": "replies",
        "task": "responses",
        "source": source,
        "backend": {
            "type": "openai",
            "base_url": server.base_url,
            "model": MODEL,
            "max_concurrency": 20,
            "timeout": 10,
        },
        "params": {"temperature": 0.7, "max_tokens": 16},
        "retries": {"max_retries": 3, **FAST},
    }
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def file_source(path: Path) -> dict[str, Any]:
    return {"file": str(path), "field": "prompt"}


def run(store: synthloop.Store, data: dict[str, Any], **options: Any) -> GenerateReport:
    return generate(store, Recipe.parse(data), **options)


def settle(server: ChatServer, sent: int) -> None:
    """Wait (10 s at most) until the server has logged `sent` requests: one the client gave up
    on may still be on its way through a busy server."""
    for _ in range(1000):
        if len(server.log) >= sent:
            return
        time.sleep(0.01)


def check_one_record_each(dataset: synthloop.Dataset, report: GenerateReport) -> None:
    """Every unit is one record; the report's counts are the stored ones."""
    records = list(dataset.records())
    assert len(records) == len({r.external_id for r in records}) == report.units
    assert report.ok + sum(report.failed.values()) == report.units - report.skipped
    assert dataset.count(by="reason", status="failed") == dict(report.failed)


# ---------------------------------------------------------------- faults


@pytest.mark.slow
def test_a_fault_mix_ends_as_one_record_per_input(
    store: synthloop.Store, serve: Serve, tmp_path: Path
) -> None:
    server = serve(
        faults={
            "rate_limit": 0.1,
            "server_error": 0.1,
            "stall": 0.03,
            "truncated": 0.05,
            "invalid_json": 0.05,
        },
        fault_seed=5,
        fault_retry_after="0",
    )
    data = recipe(
        server,
        file_source(prompts(tmp_path, 200)),
        retries={"max_retries": 1, "timeout": STALL_TIMEOUT, "bad_response_retries": 0},
    )

    report = generate(store, Recipe.parse(data))

    dataset = store.dataset("replies")
    check_one_record_each(dataset, report)
    assert report.units == 200
    assert report.ok > 0
    assert sum(report.failed.values()) > 0
    assert set(report.failed) <= {
        "rate_limited",
        "server_error",
        "timeout",
        "truncated_body",
        "invalid_json",
    }
    assert report.retries > 0
    settle(server, report.requests_sent)
    assert report.requests_sent == len(server.log)
    attempts = 0
    for record in dataset.records():
        prov = record.provenance
        attempts += prov["attempts"]
        assert prov["task"] == "responses"
        assert prov["model"] == MODEL
        if record.status == "pending":
            assert record.reason is None
            assert record.fields["response"].startswith("reply to:")
            continue
        assert record.status == "failed"
        assert record.reason in report.failed
        assert "response" not in record.fields
        assert record.fields["prompt"]
        assert prov["error"]
        if record.reason == "invalid_json":
            assert prov["raw"] == '{"choices": [oops'
        if record.reason in ("rate_limited", "server_error", "timeout"):
            assert "raw" not in prov
    assert attempts == report.requests_sent
    assert Counter(e.outcome for e in server.log)["ok"] == report.ok


def test_a_429_storm_with_retry_after_ends_all_ok(
    store: synthloop.Store, serve: Serve, tmp_path: Path
) -> None:
    server = serve()
    server.storm(10, retry_after="0")
    data = recipe(server, file_source(prompts(tmp_path, 20)), retries={"max_retries": 20})

    report = run(store, data)

    assert (report.ok, dict(report.failed)) == (20, {})
    assert report.retries == 10
    assert report.requests_sent == len(server.log) == 30
    outcomes = Counter(e.outcome for e in server.log)
    assert outcomes == {"ok": 20, "rate_limit": 10}
    dataset = store.dataset("replies")
    check_one_record_each(dataset, report)
    assert sum(r.provenance["attempts"] for r in dataset.records()) == 30


# ---------------------------------------------------------------- running again


def test_a_second_run_sends_nothing_and_another_dataset_reads_the_cache(
    store: synthloop.Store, serve: Serve, tmp_path: Path
) -> None:
    server = serve()
    data = recipe(server, file_source(prompts(tmp_path, 30)))
    first = run(store, data)
    assert (first.ok, first.requests_sent) == (30, 30)
    before = list(server.log)

    again = run(store, data)

    assert server.log == before
    assert (again.skipped, again.ok, again.requests_sent, again.cache_hits) == (30, 0, 0, 0)
    assert store.dataset("replies").count() == 30

    other = run(store, {**data, "dataset": "replies-again"})

    assert server.log == before
    assert (other.units, other.ok, other.requests_sent, other.cache_hits) == (30, 30, 0, 30)
    copied = {r.external_id: r.fields for r in store.dataset("replies-again").records()}
    assert copied == {r.external_id: r.fields for r in store.dataset("replies").records()}
    assert all(r.provenance["cached"] == 1 for r in store.dataset("replies-again").records())


# ---------------------------------------------------------------- structured output


def evolve_recipe(server: ChatServer, reasks: int) -> dict[str, Any]:
    return recipe(
        server,
        {"items": [{"instruction": "Explain why the sky is blue."}]},
        dataset="evolved",
        task="evolve",
        options={"methods": ["deepen"]},
        params={"max_tokens": 64},
        retries={"reasks": reasks},
    )


def test_an_off_schema_answer_is_asked_again(store: synthloop.Store, serve: Serve) -> None:
    server = serve()
    server.inject(Fault("off_schema"))

    report = run(store, evolve_recipe(server, reasks=2))

    assert (report.ok, dict(report.failed), report.reasks) == (1, {}, 1)
    assert report.requests_sent == len(server.log) == 2
    assert [e.outcome for e in server.log] == ["off_schema", "ok"]
    (record,) = store.dataset("evolved").records()
    assert record.status == "pending"
    assert record.fields["instruction"]
    assert record.provenance["reasks"] == 1


def test_more_bad_answers_than_reasks_fail_with_the_raw_answer(
    store: synthloop.Store, serve: Serve
) -> None:
    server = serve()
    server.inject(Fault("off_schema"), Fault("off_schema"))

    report = run(store, evolve_recipe(server, reasks=1))

    assert (report.ok, dict(report.failed), report.reasks) == (0, {"invalid_output": 1}, 1)
    assert report.requests_sent == 2
    (record,) = store.dataset("evolved").records()
    assert (record.status, record.reason) == ("failed", "invalid_output")
    assert record.provenance["raw"] == '{"wrong": 1}'
    assert "did not validate after 2 asks" in record.provenance["error"]
    assert "instruction" not in record.fields
    assert store.dataset("evolved").count(by="reason", status="failed") == {"invalid_output": 1}


def test_retry_failed_asks_again_after_invalid_output(store: synthloop.Store, serve: Serve) -> None:
    server = serve()
    server.inject(Fault("off_schema"), Fault("off_schema"))
    data = evolve_recipe(server, reasks=1)
    assert run(store, data).failed == {"invalid_output": 1}

    again = run(store, data, retry_failed=True)  # the server answers well now

    assert (again.ok, dict(again.failed)) == (1, {})
    assert again.requests_sent >= 1


# ---------------------------------------------------------------- budget

PRICES = {MODEL: {"input": 1000.0, "output": 1000.0}}  # $0.001 a token: caps reached quickly


def test_a_cost_cap_stops_midway_and_a_larger_one_finishes(
    store: synthloop.Store, serve: Serve, tmp_path: Path
) -> None:
    server = serve()
    data = recipe(
        server, file_source(prompts(tmp_path, 20)), prices=PRICES, backend={"max_concurrency": 4}
    )

    capped = run(store, data, max_cost=0.2)

    dataset = store.dataset("replies")
    check_one_record_each(dataset, capped)
    left = capped.failed["budget_exhausted"]
    assert capped.ok > 0
    assert left > 0
    assert set(capped.failed) == {"budget_exhausted"}
    assert 0 < capped.cost <= 0.2
    assert capped.requests_sent == len(server.log) == capped.ok
    failed_ids = {r.external_id for r in dataset.records(status="failed")}
    for record in dataset.records(status="failed"):
        assert "cost cap ($0.2) is reached" in record.provenance["error"]
        assert record.provenance["cost"] == 0.0
    ids = {r.external_id for r in dataset.records()}

    rest = run(store, data, max_cost=10.0)

    assert (rest.skipped, rest.ok, dict(rest.failed)) == (20 - left, left, {})
    assert rest.requests_sent == left == len(server.log) - capped.ok
    assert {r.external_id for r in dataset.records()} == ids
    assert dataset.count() == 20
    assert dataset.count(by="status") == {"pending": 20}
    replaced = {r.external_id: r for r in dataset.records() if r.external_id in failed_ids}
    assert all(r.reason is None and r.fields["response"] for r in replaced.values())
    assert all("error" not in r.provenance for r in replaced.values())


def test_a_token_cap_never_passes(store: synthloop.Store, serve: Serve, tmp_path: Path) -> None:
    server = serve()
    data = recipe(server, file_source(prompts(tmp_path, 20)), backend={"max_concurrency": 4})

    report = run(store, data, max_tokens=150)

    assert 0 < report.tokens <= 150
    assert report.ok > 0
    assert report.failed["budget_exhausted"] > 0
    check_one_record_each(store.dataset("replies"), report)


def test_max_cost_without_a_price_fails_before_any_request(
    sqlite_store: synthloop.Store, serve: Serve, tmp_path: Path
) -> None:
    server = serve()
    data = recipe(server, file_source(prompts(tmp_path, 5)))

    with pytest.raises(UnpricedModel) as caught:
        run(sqlite_store, data, max_cost=1.0)

    assert server.log == []
    message = str(caught.value)
    assert f"--max-cost needs a price for model {MODEL!r}" in message
    assert "prices:" in message


def test_max_cost_without_a_price_creates_nothing(
    sqlite_store: synthloop.Store, serve: Serve, tmp_path: Path
) -> None:
    server = serve()
    data = recipe(server, file_source(prompts(tmp_path, 5)))
    with pytest.raises(UnpricedModel):
        run(sqlite_store, data, max_cost=1.0)
    assert sqlite_store.datasets() == []


# ---------------------------------------------------------------- dry run and retry_failed


def test_a_dry_run_sends_nothing_and_creates_nothing(
    store: synthloop.Store, serve: Serve, tmp_path: Path
) -> None:
    server = serve()
    data = recipe(server, file_source(prompts(tmp_path, 10)), prices=PRICES)

    report = run(store, data, dry_run=True)

    assert server.log == []
    assert server.requests == 0
    assert store.datasets() == []
    assert report.dry_run
    assert (report.units, report.skipped, report.ok) == (10, 0, 0)
    assert report.requests_sent == 0
    assert report.estimated_tokens >= 10 * 16  # each prompt's estimate plus max_tokens
    assert report.estimated_cost == pytest.approx(report.estimated_tokens * 0.001)
    assert len(report.samples) == 3
    assert report.samples[0][-1] == {"role": "user", "content": "Question number 0?"}


def test_retry_failed_replaces_what_a_plain_run_leaves(
    store: synthloop.Store, serve: Serve, tmp_path: Path
) -> None:
    server = serve()
    server.inject(*[Fault("server_error", status=500)] * 4)
    data = recipe(server, file_source(prompts(tmp_path, 12)), retries={"max_retries": 0})
    first = run(store, data)
    assert (first.ok, dict(first.failed)) == (8, {"server_error": 4})
    dataset = store.dataset("replies")
    failed_ids = {r.external_id for r in dataset.records(status="failed")}
    sent = len(server.log)

    plain = run(store, data)

    assert (plain.skipped, plain.requests_sent) == (12, 0)
    assert len(server.log) == sent
    assert dataset.count(by="reason", status="failed") == {"server_error": 4}

    retried = run(store, data, retry_failed=True)

    assert (retried.skipped, retried.ok, retried.requests_sent) == (8, 4, 4)
    assert dataset.count() == 12
    assert dataset.count(by="status") == {"pending": 12}
    assert {r.external_id for r in dataset.records()} >= failed_ids


# ---------------------------------------------------------------- the command


@pytest.mark.slow
def test_the_command_prints_counts_and_status_counts_failures(
    db_url: str, serve: Serve, tmp_path: Path
) -> None:
    server = serve()
    server.inject(*[Fault("server_error", status=500)] * 3)
    data = recipe(server, file_source(prompts(tmp_path, 10)), retries={"max_retries": 0})
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")

    result = run_cli("generate", str(path), "--db", db_url, "--json")

    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert (report["ok"], report["failed"]) == (7, {"server_error": 3})
    assert (report["requests_sent"], report["cache_hits"]) == (10, 0)
    assert report["tokens"] == report["prompt_tokens"] + report["completion_tokens"] > 0
    assert report["cost"] == 0.0
    assert len(server.log) == 10

    status = run_cli("status", "replies", "--db", db_url, "--json")

    assert status.returncode == 0, status.stderr
    summary = orjson.loads(status.stdout)
    assert summary["failed_by_reason"] == {"server_error": 3}
    assert summary["by_status"] == {"failed": 3, "pending": 7}

    again = run_cli("generate", str(path), "--db", db_url, "--json")
    assert again.returncode == 0, again.stderr
    assert orjson.loads(again.stdout)["requests_sent"] == 0
    assert len(server.log) == 10


@pytest.mark.slow
def test_the_command_refuses_max_cost_without_a_price(serve: Serve, tmp_path: Path) -> None:
    server = serve()
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe(server, file_source(prompts(tmp_path, 3)))))

    result = run_cli("generate", str(path), "--db", str(tmp_path / "cli.db"), "--max-cost", "1")

    assert result.returncode == 1
    assert f"--max-cost needs a price for model {MODEL!r}" in result.stderr
    assert server.log == []


# ---------------------------------------------------------------- annotating


def test_judge_stores_suggestions_and_rationales(
    store: synthloop.Store, serve: Serve, tmp_path: Path
) -> None:
    server = serve()
    base = recipe(server, file_source(prompts(tmp_path, 6)))
    assert run(store, base).ok == 6
    judge = recipe(server, {}, task="judge", params={"max_tokens": 128})
    sent = len(server.log)

    report = run(store, judge)

    assert (report.units, report.ok, dict(report.failed)) == (6, 6, {})
    assert report.requests_sent == len(server.log) - sent == 6
    dataset = store.dataset("replies")
    assert dataset.count() == 6  # suggestions on the records, no new records
    for record in dataset.records():
        suggestion = record.suggestions["quality"]
        assert suggestion.agent == f"judge:{MODEL}"
        assert suggestion.value in range(1, 6)
        assert suggestion.score == pytest.approx((suggestion.value - 1) / 4)
        note = record.metadata["generation"]["judge"]
        assert note["agent"] == f"judge:{MODEL}"
        assert isinstance(note["rationale"]["quality"], str)

    again = run(store, judge)

    assert (again.skipped, again.requests_sent) == (6, 0)
    assert len(server.log) == sent + 6
