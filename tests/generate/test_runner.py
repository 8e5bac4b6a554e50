"""The runner against the fake backend and a real local chat-completions server that injects
faults: every input ends as exactly one result, ok or failed with its reason, and the counts add
up. Delays are kept tiny through parameters; nothing here measures time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import synthloop
from synthloop.generate.llm import Params, Request
from synthloop.generate.llm.fake import FakeBackend
from synthloop.generate.llm.openai import OpenAIBackend
from synthloop.generate.llm.testing import ChatServer, Fault
from synthloop.generate.runner import Result, RunReport, results_to_rows, run

FAST = {"base_delay": 0.001, "max_delay": 0.01}


def items(n: int) -> list[tuple[str, Request]]:
    return [
        (
            f"k{i}",
            Request(
                messages=[{"role": "user", "content": f"prompt {i}"}],
                params=Params(temperature=0.5, max_tokens=16),
            ),
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    with ChatServer() as chat:
        yield chat


def run_openai(
    server: ChatServer, n: int, **options: Any
) -> tuple[RunReport, list[list[Result]], int]:
    batches: list[list[Result]] = []
    before = server.requests

    async def go() -> RunReport:
        async with OpenAIBackend(base_url=server.base_url, model="m", timeout=10) as backend:
            return await run(backend, items(n), on_result=batches.append, **{**FAST, **options})

    report = asyncio.run(go())
    return report, batches, server.requests - before


def flat(batches: list[list[Result]]) -> list[Result]:
    return [r for batch in batches for r in batch]


def test_all_ok_with_the_fake_backend_in_batches_to_an_async_callback() -> None:
    batches: list[list[Result]] = []

    async def collect(batch: list[Result]) -> None:
        batches.append(batch)

    report = asyncio.run(
        run(
            FakeBackend(), items(25), concurrency=4, max_retries=0, on_result=collect, batch_size=10
        )
    )
    assert sorted(len(b) for b in batches) == [5, 10, 10]
    assert sorted(r.key for r in flat(batches)) == sorted(k for k, _ in items(25))
    assert all(r.ok and r.attempts == 1 for r in flat(batches))
    assert (report.inputs, report.ok, report.failed, report.requests_sent) == (25, 25, {}, 25)
    assert report.retries == 0
    assert report.tokens == sum(
        r.completion.prompt_tokens + r.completion.completion_tokens
        for r in flat(batches)
        if r.completion
    )


def test_all_ok_against_the_server(server: ChatServer) -> None:
    report, batches, received = run_openai(server, 50, concurrency=8, max_retries=2)
    assert (report.ok, report.failed, report.requests_sent, received) == (50, {}, 50, 50)
    assert report.max_in_flight <= 8
    results = flat(batches)
    assert len(results) == 50
    assert all(r.completion and r.completion.text.startswith("reply to: prompt") for r in results)


def test_a_mix_of_faults_retryable_ones_recover_the_rest_fail_with_their_reason(
    server: ChatServer,
) -> None:
    server.inject(
        Fault("rate_limit", retry_after="0"),
        Fault("server_error", status=500),
        Fault("stall", stall=5.0),
        Fault("truncated"),
        Fault("invalid_json"),
        Fault("server_error", status=400),
        Fault("missing"),
    )
    report, batches, received = run_openai(server, 20, concurrency=4, max_retries=3, timeout=0.5)
    results = flat(batches)
    assert len(results) == 20
    assert len({r.key for r in results}) == 20
    failed = Counter(r.reason for r in results if not r.ok)
    assert failed == {"truncated_body": 1, "invalid_json": 1, "rejected": 1, "missing_fields": 1}
    assert report.failed == failed
    assert report.ok == 16
    assert report.ok + sum(report.failed.values()) == report.inputs == 20
    # three retryable faults, each retried once; the four others not retried at all
    assert report.retries == 3
    assert report.requests_sent == received == 23
    # (a retried request may draw a non-retryable fault on its second attempt)
    assert all(r.detail for r in results if not r.ok)
    assert all(r.raw for r in results if r.reason in ("invalid_json", "missing_fields"))


def test_retries_exhausted_fail_with_the_last_reason(server: ChatServer) -> None:
    server.inject(*[Fault("server_error", status=502)] * 3)
    report, batches, received = run_openai(server, 1, concurrency=1, max_retries=2)
    (result,) = flat(batches)
    assert not result.ok
    assert result.reason == "server_error"
    assert result.attempts == 3
    assert (report.failed, report.requests_sent, report.retries, received) == (
        {"server_error": 1},
        3,
        2,
        3,
    )


def test_retry_after_is_honoured_as_a_minimum_wait(server: ChatServer) -> None:
    server.inject(Fault("rate_limit", retry_after="1"))
    report, batches, _ = run_openai(server, 1, concurrency=1, max_retries=1)
    assert flat(batches)[0].ok
    assert report.retries == 1
    assert report.waited >= 1.0  # the wait chosen, not a clock reading


def test_bad_responses_may_be_retried_when_asked(server: ChatServer) -> None:
    server.inject(Fault("truncated"), Fault("invalid_json"))
    report, batches, _ = run_openai(server, 1, concurrency=1, max_retries=3, bad_response_retries=2)
    assert flat(batches)[0].ok
    assert report.requests_sent == 3


def test_the_limit_halves_on_429_and_503_and_recovers(server: ChatServer) -> None:
    server.inject(
        Fault("rate_limit", retry_after="0"),
        Fault("server_error", status=503),
        Fault("rate_limit", retry_after=None),
    )
    report, _, _ = run_openai(server, 60, concurrency=8, max_retries=3, recover_after=2)
    assert report.ok == 60
    changes = report.limit_changes
    assert changes[0] == 4  # halved by the first overload
    assert min(changes) <= 2  # and again by a later one
    assert changes[-1] == 8  # then back, one step at a time, to the maximum
    steps = list(zip([8, *changes], changes, strict=False))
    assert all(new == max(old // 2, 1) or new == old + 1 for old, new in steps)
    assert report.max_in_flight <= 8


def test_a_plain_500_does_not_lower_the_limit(server: ChatServer) -> None:
    server.inject(Fault("server_error", status=500))
    report, _, _ = run_openai(server, 10, concurrency=4, max_retries=1)
    assert report.ok == 10
    assert report.limit_changes == []


def test_rows_import_into_a_store_ok_as_pending_failed_with_reason(
    server: ChatServer, tmp_path: Path
) -> None:
    server.inject(Fault("invalid_json"), Fault("server_error", status=500))
    report, batches, _ = run_openai(server, 6, concurrency=1, max_retries=0)
    assert report.ok == 4
    settings = {
        "fields": [
            {"name": "prompt", "type": "text"},
            {"name": "response", "type": "text", "required": False},
        ],
        "questions": [{"name": "ok", "type": "label", "labels": ["yes", "no"]}],
    }
    prompts = {key: {"prompt": request.prompt_text()} for key, request in items(6)}
    with synthloop.open(tmp_path / "s.db") as store:
        dataset = store.create_dataset("gen", settings)
        backend = OpenAIBackend(base_url=server.base_url, model="m")
        for batch in batches:
            dataset.add(
                results_to_rows(batch, backend=backend, fields=prompts, provenance={"task": "t"})
            )
        assert dataset.count(by="status") == {"pending": 4, "failed": 2}
        records = {r.external_id: r for r in dataset.records()}
        assert len(records) == 6
        failed = [r for r in records.values() if r.status == "failed"]
        assert sorted(r.reason or "" for r in failed) == ["invalid_json", "server_error"]
        for r in failed:
            assert "response" not in r.fields
            assert r.provenance["error"]
        assert any("raw" in r.provenance for r in failed)
        for r in records.values():
            assert r.fields["prompt"].startswith("prompt ")
            assert r.provenance["source"] == "synthetic"
            assert r.provenance["task"] == "t"
            assert r.provenance["backend"] == "openai"
            assert r.provenance["params"] == {"temperature": 0.5, "max_tokens": 16}
            if r.status == "pending":
                assert r.fields["response"].startswith("reply to: prompt")
                assert r.provenance["completion_tokens"] > 0


def test_a_flush_interval_hands_over_results_before_a_batch_fills() -> None:
    batches: list[list[Result]] = []
    report = asyncio.run(
        run(
            FakeBackend(),
            items(5),
            concurrency=1,
            max_retries=0,
            on_result=batches.append,
            batch_size=100,
            flush_interval=0.0,
        )
    )
    assert [len(b) for b in batches] == [1, 1, 1, 1, 1]
    assert report.ok == 5


def test_an_error_in_the_callback_stops_the_run() -> None:
    def boom(batch: list[Result]) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        asyncio.run(run(FakeBackend(), items(5), concurrency=2, on_result=boom, batch_size=1))


def test_no_inputs_no_results() -> None:
    batches: list[list[Result]] = []
    report = asyncio.run(run(FakeBackend(), [], on_result=batches.append))
    assert (report.inputs, report.ok, report.requests_sent, batches) == (0, 0, 0, [])
