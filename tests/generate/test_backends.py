"""Backends: the fake's determinism and label, the entry-point registry, and the openai backend
against a real local chat-completions server that injects faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from synthloop.generate.llm import (
    BackendError,
    BadResponse,
    Completion,
    Params,
    RateLimited,
    Request,
    RequestTimeout,
    ServerError,
    UnknownBackend,
    backend_types,
    get_backend,
)
from synthloop.generate.llm.fake import FakeBackend
from synthloop.generate.llm.openai import OpenAIBackend, parse_retry_after
from synthloop.generate.llm.testing import ChatServer, Fault, http_date

HELLO = Request(
    messages=[{"role": "user", "content": "Say hello."}],
    params=Params(temperature=0.7, max_tokens=32),
)
SCHEMA = {
    "type": "object",
    "properties": {
        "question": {"type": "string"},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
        "ok": {"type": "boolean"},
    },
}


def complete(backend_type: str, request: Request, **config: object) -> Completion:
    async def run() -> Completion:
        async with get_backend(backend_type, **config) as backend:
            return await backend.complete(request)

    return asyncio.run(run())


def fails_with(server: ChatServer, fault: Fault, timeout: float = 10.0) -> BackendError:
    server.inject(fault)
    with pytest.raises(BackendError) as info:
        complete("openai", HELLO, base_url=server.base_url, model="m", timeout=timeout)
    return info.value


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    with ChatServer() as chat:
        yield chat


# -- fake ------------------------------------------------------------------------------------


def test_fake_is_deterministic_and_labelled_as_not_a_model() -> None:
    first, again = complete("fake", HELLO), complete("fake", HELLO)
    other = complete("fake", Request(messages=[{"role": "user", "content": "Say goodbye."}]))
    assert first == again
    assert first.text != other.text
    assert first.model == "fake (not a model)"
    assert "not a model" in complete("fake", HELLO, model="gpt-x").model
    assert first.finish_reason == "stop"
    assert first.prompt_tokens > 0
    assert first.completion_tokens > 0
    assert first.tokens_estimated


def test_fake_params_change_the_text() -> None:
    colder = Request(messages=HELLO.messages, params=Params(temperature=0.0, max_tokens=32))
    assert complete("fake", HELLO).text != complete("fake", colder).text


def test_fake_emits_json_matching_a_simple_schema() -> None:
    request = Request(messages=HELLO.messages, schema=SCHEMA)
    value = json.loads(complete("fake", request).text)
    assert set(value) == {"question", "score", "tags", "ok"}
    assert isinstance(value["question"], str)
    assert 1 <= value["score"] <= 5
    assert value["tags"]
    assert set(value["tags"]) <= {"a", "b"}
    assert isinstance(value["ok"], bool)
    assert complete("fake", request).text == complete("fake", request).text


# -- registry --------------------------------------------------------------------------------


def test_builtins_are_found_through_entry_points() -> None:
    assert {"fake", "openai"} <= set(backend_types())
    assert isinstance(get_backend("fake"), FakeBackend)
    backend = get_backend("openai", base_url="http://127.0.0.1:9/v1", model="m")
    assert isinstance(backend, OpenAIBackend)
    assert backend.backend_type == "openai"


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(UnknownBackend) as info:
        get_backend("gpt-magic")
    message = str(info.value)
    assert "'gpt-magic'" in message
    assert "fake" in message
    assert "openai" in message
    assert "synthloop.backends" in message


# -- openai against the local server ---------------------------------------------------------


def test_openai_completion_with_token_usage(server: ChatServer) -> None:
    before = server.requests
    done = complete("openai", HELLO, base_url=server.base_url, model="any-model")
    assert done.text == "reply to: Say hello."
    assert done.finish_reason == "stop"
    assert done.model == "any-model"
    assert done.prompt_tokens == 3
    assert done.completion_tokens == 5
    assert not done.tokens_estimated
    assert done.raw is not None
    assert done.raw["usage"]["total_tokens"] == 8
    assert server.requests == before + 1


def test_openai_sends_the_schema_as_response_format(server: ChatServer) -> None:
    request = Request(messages=HELLO.messages, schema=SCHEMA)
    value = json.loads(complete("openai", request, base_url=server.base_url, model="m").text)
    assert 1 <= value["score"] <= 5


def test_api_key_comes_from_the_named_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-test")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert OpenAIBackend(base_url="u", model="m", api_key_env="MY_KEY")._headers[
        "Authorization"
    ] == ("Bearer sk-test")
    assert "Authorization" not in OpenAIBackend(base_url="u", model="m")._headers


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("0", 0.0), (None, None)])
def test_429_is_rate_limited_with_retry_after_seconds(
    server: ChatServer, header: str | None, seconds: float | None
) -> None:
    error = fails_with(server, Fault("rate_limit", retry_after=header))
    assert isinstance(error, RateLimited)
    assert error.reason == "rate_limited"
    assert error.retry_after == seconds


def test_429_retry_after_as_http_date(server: ChatServer) -> None:
    error = fails_with(server, Fault("rate_limit", retry_after=http_date(3600)))
    assert isinstance(error, RateLimited)
    assert error.retry_after is not None
    assert error.retry_after > 0


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after(" 12 ", now=now) == 12.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("-5", now=now) is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_a_server_error(server: ChatServer, status: int) -> None:
    error = fails_with(server, Fault("server_error", status=status))
    assert isinstance(error, ServerError)
    assert error.reason == "server_error"
    assert error.status == status


def test_stall_past_the_timeout_is_a_request_timeout(server: ChatServer) -> None:
    error = fails_with(server, Fault("stall", stall=30.0), timeout=0.2)
    assert isinstance(error, RequestTimeout)
    assert error.reason == "timeout"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("truncated", "truncated_body"),
        ("invalid_json", "invalid_json"),
        ("missing", "missing_fields"),
    ],
)
def test_bad_bodies_are_bad_responses(server: ChatServer, kind: str, reason: str) -> None:
    error = fails_with(server, Fault(kind))  # type: ignore[arg-type]
    assert isinstance(error, BadResponse)
    assert error.reason == reason


def test_rejected_and_unreachable_are_typed_too(server: ChatServer) -> None:
    error = fails_with(server, Fault("server_error", status=401))
    assert error.reason == "rejected"
    with pytest.raises(BackendError) as info:
        complete("openai", HELLO, base_url="http://127.0.0.1:9/v1", model="m")
    assert info.value.reason == "connection_error"


def test_server_answers_normally_after_faults(server: ChatServer) -> None:
    server.inject(Fault("server_error"), Fault("invalid_json"))
    reasons = []
    for _ in range(3):
        try:
            complete("openai", HELLO, base_url=server.base_url, model="m")
            reasons.append("ok")
        except BackendError as exc:
            reasons.append(exc.reason)
    assert reasons == ["server_error", "invalid_json", "ok"]
