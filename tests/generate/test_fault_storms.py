"""Fault storms: the runner against the real local chat-completions server while it answers with
429 storms, 5xx, stalls, truncated and unparsable bodies, queued and at random. Every input ends
as exactly one result, the counts add up, and the server's request log agrees with the runner:
each attempt the runner counts reached the server once, under the input's digest. Delays are
tiny (Retry-After "0", short timeouts); nothing here measures time."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from synthloop.generate.llm import Params, Request
from synthloop.generate.llm.openai import OpenAIBackend
from synthloop.generate.llm.testing import ChatServer, Fault, request_digest
from synthloop.generate.runner import Result, RunReport, run

FAST = {"base_delay": 0.001, "max_delay": 0.01}
# A stalled request's client timeout: well above an ordinary answer's time on a loaded machine,
# so that only stalls time out and the server's log matches the runner's view of each attempt.
STALL_TIMEOUT = 1.0
KNOWN_REASONS = {
    "rate_limited",
    "server_error",
    "timeout",
    "connection_error",
    "rejected",
    "truncated_body",
    "invalid_json",
    "missing_fields",
}
BAD_RESPONSE = {"truncated": "truncated_body", "invalid_json": "invalid_json"}
RETRYABLE = {"rate_limit", "server_error", "stall"}

Serve = Callable[..., ChatServer]


def items(n: int) -> list[tuple[str, Request]]:
    return [
        (
            f"k{i}",
            Request(
                messages=[{"role": "user", "content": f"storm prompt {i}"}],
                params=Params(temperature=0.5, max_tokens=16),
            ),
        )
        for i in range(n)
    ]


def digest(request: Request) -> str:
    """The server's digest of what the backend sends for `request`."""
    return request_digest(OpenAIBackend(base_url="http://127.0.0.1/v1", model="m").body(request))


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


def run_against(server: ChatServer, n: int, **options: Any) -> tuple[RunReport, list[Result]]:
    results: list[Result] = []

    async def go() -> RunReport:
        async with OpenAIBackend(base_url=server.base_url, model="m", timeout=10) as backend:
            return await run(backend, items(n), on_result=results.extend, **{**FAST, **options})

    return asyncio.run(go()), results


def outcomes(server: ChatServer) -> Counter[str]:
    return Counter(entry.outcome for entry in server.log)


def settle(server: ChatServer, sent: int) -> None:
    """Wait (10 s at most) until the server has logged `sent` requests: one the client gave up
    on may still be on its way through a busy server."""
    for _ in range(1000):
        if len(server.log) >= sent:
            return
        time.sleep(0.01)


def check_accounts(server: ChatServer, report: RunReport, results: list[Result], n: int) -> None:
    """One result per input; counts that add up; the server saw exactly the attempts counted."""
    settle(server, report.requests_sent)
    assert sorted(r.key for r in results) == sorted(key for key, _ in items(n))
    assert report.inputs == n
    assert report.ok == sum(r.ok for r in results)
    assert report.ok + sum(report.failed.values()) == n
    assert report.failed == Counter(r.reason for r in results if not r.ok)
    assert set(report.failed) <= KNOWN_REASONS
    assert all(r.detail for r in results if not r.ok)
    assert report.requests_sent == len(server.log) == sum(r.attempts for r in results)
    sent = server.count_by_digest()
    assert all(sent[digest(r.request)] == r.attempts for r in results)
    assert {digest(r.request) for r in results if r.ok} <= server.completed_digests()


# -- 429 storms --------------------------------------------------------------------------------


def test_a_429_storm_is_ridden_out_and_halves_the_limit(serve: Serve) -> None:
    server = serve()
    server.storm(40, retry_after="0")
    report, results = run_against(server, 20, concurrency=8, max_retries=40, recover_after=2)
    check_accounts(server, report, results, 20)
    assert report.ok == 20
    assert outcomes(server) == {"rate_limit": 40, "ok": 20}
    assert report.retries == 40
    assert report.limit_changes[0] == 4
    assert report.max_in_flight <= 8


def test_a_storm_s_retry_after_is_waited_for(serve: Serve) -> None:
    server = serve()
    server.storm(2, retry_after="1")
    report, results = run_against(server, 2, concurrency=2, max_retries=1)
    check_accounts(server, report, results, 2)
    assert [r.attempts for r in results] == [2, 2]
    assert report.waited >= 2.0  # the waits chosen, not a clock reading


def test_a_storm_longer_than_the_retries_fails_rate_limited(serve: Serve) -> None:
    server = serve()
    server.storm(6, retry_after="0")
    report, results = run_against(server, 2, concurrency=1, max_retries=2)
    check_accounts(server, report, results, 2)
    assert report.failed == {"rate_limited": 2}
    assert outcomes(server) == {"rate_limit": 6}


# -- 500s and 503s -----------------------------------------------------------------------------


def test_queued_500s_and_503s_recover_and_only_503s_lower_the_limit(serve: Serve) -> None:
    server = serve()
    server.inject(*[Fault("server_error", status=500)] * 5)
    report, results = run_against(server, 10, concurrency=4, max_retries=5)
    check_accounts(server, report, results, 10)
    assert (report.ok, report.retries, report.limit_changes) == (10, 5, [])

    server.reset_log()
    server.inject(*[Fault("server_error", status=503)] * 5)
    report, results = run_against(server, 10, concurrency=4, max_retries=5)
    check_accounts(server, report, results, 10)
    assert (report.ok, report.retries) == (10, 5)
    assert report.limit_changes[0] == 2


def test_random_server_errors_are_all_retried_to_ok(serve: Serve) -> None:
    server = serve(faults={"server_error": 0.3}, fault_seed=3)
    report, results = run_against(server, 50, concurrency=10, max_retries=30, recover_after=2)
    check_accounts(server, report, results, 50)
    assert report.ok == 50
    assert outcomes(server)["server_error"] == report.retries > 0


def test_a_server_that_always_fails_fails_every_input_after_its_retries(serve: Serve) -> None:
    server = serve(faults={"server_error": 1.0})
    report, results = run_against(server, 3, concurrency=3, max_retries=2)
    check_accounts(server, report, results, 3)
    assert report.failed == {"server_error": 3}
    assert all(r.attempts == 3 for r in results)


# -- timeouts ----------------------------------------------------------------------------------


def test_random_stalls_time_out_and_are_retried_to_ok(serve: Serve) -> None:
    server = serve(faults={"stall": 0.2}, fault_seed=1, stall_seconds=30)
    report, results = run_against(server, 30, concurrency=10, max_retries=20, timeout=STALL_TIMEOUT)
    check_accounts(server, report, results, 30)
    assert report.ok == 30
    assert outcomes(server)["stall"] == report.retries > 0


def test_stalls_without_retries_fail_as_timeouts(serve: Serve) -> None:
    server = serve()
    server.inject(Fault("stall", stall=30), Fault("stall", stall=30))
    report, results = run_against(server, 4, concurrency=4, max_retries=0, timeout=STALL_TIMEOUT)
    check_accounts(server, report, results, 4)
    assert report.failed == {"timeout": 2}
    assert report.ok == 2


# -- bad responses: truncated bodies, invalid JSON, missing fields -----------------------------


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("truncated", "truncated_body"),
        ("invalid_json", "invalid_json"),
        ("missing", "missing_fields"),
    ],
)
def test_bad_responses_are_not_retried_and_keep_the_raw_body(
    serve: Serve, kind: Any, reason: str
) -> None:
    server = serve()
    server.inject(*[Fault(kind)] * 3)
    report, results = run_against(server, 6, concurrency=3, max_retries=5)
    check_accounts(server, report, results, 6)
    assert report.failed == {reason: 3}
    assert report.retries == 0
    failed = [r for r in results if not r.ok]
    assert all(r.attempts == 1 and r.raw is not None for r in failed)
    if kind == "invalid_json":
        assert all(r.raw == b'{"choices": [oops' for r in failed)


@pytest.mark.parametrize("kind", ["truncated", "invalid_json"])
def test_bad_responses_are_retried_when_allowed(serve: Serve, kind: Any) -> None:
    server = serve()
    server.inject(*[Fault(kind)] * 3)
    report, results = run_against(server, 6, concurrency=3, max_retries=5, bad_response_retries=1)
    check_accounts(server, report, results, 6)
    assert (report.ok, report.retries) == (6, 3)


# -- a random mix ------------------------------------------------------------------------------


def test_a_random_mix_over_300_inputs_every_input_one_result(serve: Serve) -> None:
    rates: dict[Any, float] = dict.fromkeys(
        ["rate_limit", "server_error", "stall", "truncated", "invalid_json"], 0.05
    )
    server = serve(faults=rates, fault_seed=5, fault_retry_after="0", stall_seconds=30)
    report, results = run_against(
        server, 300, concurrency=20, max_retries=30, timeout=STALL_TIMEOUT, recover_after=1
    )
    check_accounts(server, report, results, 300)
    seen = outcomes(server)
    assert set(seen) == {"ok", *rates}
    # retryable faults are all retried (to ok, or to a bad response); bad responses end an input
    assert report.retries == sum(seen[kind] for kind in RETRYABLE)
    assert set(report.failed) <= set(BAD_RESPONSE.values())
    assert report.failed == {BAD_RESPONSE[k]: seen[k] for k in BAD_RESPONSE if seen[k]}
    assert report.ok == seen["ok"] == 300 - sum(report.failed.values())
    by_digest: defaultdict[str, list[str]] = defaultdict(list)
    for entry in server.log:
        by_digest[entry.digest].append(entry.outcome)
    for r in results:
        answers = Counter(by_digest[digest(r.request)])
        if r.ok:
            assert answers["ok"] >= 1
        else:  # a bad response ended it, after any number of retried faults
            assert r.reason in {BAD_RESPONSE[k] for k in BAD_RESPONSE if answers[k]}
            assert r.raw is not None
    assert report.limit_changes  # 429s and 503s lowered the limit at least once


# -- the server itself -------------------------------------------------------------------------


def test_the_same_seed_draws_the_same_faults(serve: Serve) -> None:
    rates: dict[Any, float] = {"server_error": 0.3, "rate_limit": 0.2}
    sequences = []
    for seed in (7, 7, 8):
        server = serve(faults=rates, fault_seed=seed, fault_retry_after="0")
        run_against(server, 20, concurrency=1, max_retries=0)
        sequences.append([entry.outcome for entry in server.log])
    assert sequences[0] == sequences[1] != sequences[2]
    assert {"ok", "server_error", "rate_limit"} <= set(sequences[0])


def test_queued_faults_come_before_random_ones(serve: Serve) -> None:
    server = serve(faults={"server_error": 1.0})
    server.inject(Fault("invalid_json"))
    report, _ = run_against(server, 1, concurrency=1, max_retries=0)
    assert report.failed == {"invalid_json": 1}


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ({"flood": 0.1}, "fault kind 'flood' is unknown; use one of rate_limit"),
        ({"stall": 1.5}, "fault rate stall=1.5 is outside 0..1"),
        ({"stall": 0.6, "truncated": 0.6}, "fault rates add up to 1.2, more than 1"),
    ],
)
def test_bad_fault_rates_are_refused(faults: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        ChatServer(faults=faults)


def test_the_digest_ignores_key_order_and_volatile_keys() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.5}
    reordered = {"temperature": 0.5, "messages": [{"content": "x", "role": "user"}], "model": "m"}
    assert request_digest(body) == request_digest({**reordered, "stream": True, "user": "u"})
    assert request_digest(body) != request_digest({**body, "temperature": 0.6})
    assert request_digest(body) != request_digest({**body, "model": "n"})


def test_a_body_that_is_not_json_is_a_400_logged_as_bad_request(serve: Serve) -> None:
    server = serve()
    post = urllib.request.Request(f"{server.base_url}/chat/completions", data=b"nope")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(post, timeout=10)
    info.value.close()
    assert info.value.code == 400
    assert [entry.outcome for entry in server.log] == ["bad_request"]
    server.reset_log()
    assert server.log == []
    assert server.requests == 1


def test_the_standalone_server_appends_a_flushed_json_line_per_request(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    command = [sys.executable, "-m", "synthloop.generate.llm.testing", "--log", str(log)]
    options = ["--fault", "server_error=0.5", "--fault", "rate_limit=0.1", "--fault-seed", "2"]
    proc = subprocess.Popen([*command, *options], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().decode().strip()
        assert base_url.startswith("http://127.0.0.1:")

        async def go() -> RunReport:
            async with OpenAIBackend(base_url=base_url, model="m", timeout=10) as backend:
                return await run(backend, items(12), concurrency=1, max_retries=0)

        report = asyncio.run(go())
        lines = [orjson.loads(line) for line in log.read_bytes().splitlines()]  # server still up
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert len(lines) == report.requests_sent == 12
    seen = Counter(line["outcome"] for line in lines)
    assert seen["ok"] == report.ok
    assert seen["server_error"] == report.failed["server_error"] > 0
    assert seen["rate_limit"] == report.failed["rate_limited"]
    assert {line["digest"] for line in lines} == {digest(r) for _, r in items(12)}


def test_the_standalone_server_refuses_a_bad_fault_option() -> None:
    command = [sys.executable, "-m", "synthloop.generate.llm.testing", "--fault", "stall"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "'stall' is not KIND=RATE; write e.g. --fault rate_limit=0.05" in done.stderr
