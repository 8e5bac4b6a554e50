"""The `transformers` backend on tiny random-weight GPT-2 models built here, with a word-level
tokenizer trained offline on a few sentences: nothing is downloaded. Without transformers and
torch the model cases skip, except under CI=true, where they fail."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from synthloop.errors import SynthloopError
from synthloop.generate.llm import Completion, Params, Request, get_backend
from synthloop.generate.llm.transformers import (
    GenerationFailed,
    MissingDependency,
    ModelLoadFailed,
    ModelNotFound,
    TransformersBackend,
)

SENTENCES = [
    "the cat sat on the mat",
    "a dog ran in the park and the bird sang",
    "be brief and kind",
]
SPECIALS = ["<unk>", "<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
EOS = SPECIALS.index("</s>")
# Every role's marker is one token; the template opens with <s>, which the plain join never adds.
TEMPLATE = (
    "<s>{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
CAT = Request(messages=[{"role": "user", "content": "the cat sat"}])


def _require(name: str) -> Any:
    if os.environ.get("CI", "").lower() == "true":
        return __import__(name)  # CI=true: these tests must run, so a missing package fails
    return pytest.importorskip(name)


def _save_model(folder: Path, *, stops_at_once: bool) -> Path:
    """A 2-layer GPT-2 and its tokenizer in `folder`. Without an end-of-sequence token the model
    always runs to the token limit; `stops_at_once` rigs it to answer </s> first, every time."""
    torch = _require("torch")
    transformers = _require("transformers")
    tokenizers = _require("tokenizers")
    words = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="<unk>"))
    words.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    words.decoder = tokenizers.decoders.WordPiece()  # joins the words back with spaces
    trainer = tokenizers.trainers.WordLevelTrainer(special_tokens=SPECIALS)
    words.train_from_iterator([*SENTENCES, "user: assistant: system:"], trainer=trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=words,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
    )
    tokenizer.chat_template = TEMPLATE
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=2,
        n_positions=64,
        vocab_size=len(tokenizer),
        bos_token_id=2,
        pad_token_id=1,
        eos_token_id=EOS if stops_at_once else None,
    )
    model = transformers.GPT2LMHeadModel(config)
    if stops_at_once:
        with torch.no_grad():  # every hidden state becomes </s>'s own (tied) embedding, scaled
            wte = model.transformer.wte.weight
            wte[EOS] = torch.full((32,), 3.0)
            model.transformer.ln_f.weight.zero_()
            model.transformer.ln_f.bias.copy_(wte[EOS])
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def chatty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_model(tmp_path_factory.mktemp("chatty"), stops_at_once=False)


@pytest.fixture(scope="module")
def terse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_model(tmp_path_factory.mktemp("terse"), stops_at_once=True)


def complete(folder: Path, *requests: Request, **config: Any) -> list[Completion]:
    async def run() -> list[Completion]:
        async with get_backend("transformers", model=str(folder), **config) as llm:
            return list(await asyncio.gather(*(llm.complete(r) for r in requests)))

    return asyncio.run(run())


def sampled(seed: int, max_tokens: int = 8) -> Request:
    params = Params(temperature=1.0, top_p=0.95, seed=seed, max_tokens=max_tokens)
    return Request(messages=CAT.messages, params=params)


def test_registered_and_named_after_the_folder(chatty: Path) -> None:
    backend = get_backend("transformers", model=str(chatty))
    assert isinstance(backend, TransformersBackend)
    assert backend.model == chatty.name
    assert str(chatty) in backend.cache_identity()  # not the name alone: many are checkpoint-N


def test_the_same_seed_gives_the_same_text(chatty: Path) -> None:
    first, again, *others = complete(chatty, *(sampled(seed) for seed in (7, 7, 1, 2, 3)))
    assert first.text
    assert first.text == again.text
    assert any(other.text != first.text for other in others)


def test_seeded_requests_in_parallel_match_one_at_a_time(chatty: Path) -> None:
    requests = [sampled(seed) for seed in range(4)]
    alone = [complete(chatty, request)[0].text for request in requests]
    together = complete(chatty, *requests, max_concurrency=4)
    assert [done.text for done in together] == alone


def test_max_tokens_is_respected_and_counted(chatty: Path) -> None:
    request = Request(messages=CAT.messages, params=Params(temperature=0, max_tokens=5))
    (done,) = complete(chatty, request)
    assert done.completion_tokens == 5
    assert done.finish_reason == "length"
    assert done.tokens_estimated is False
    # <s> <|user|> the cat sat <|assistant|>: the chat template's six tokens
    assert done.prompt_tokens == 6


def test_the_backend_default_limit_applies_without_max_tokens(chatty: Path) -> None:
    (done,) = complete(chatty, Request(messages=CAT.messages), max_new_tokens=3)
    assert (done.completion_tokens, done.finish_reason) == (3, "length")


def test_without_a_chat_template_messages_become_role_lines(tmp_path: Path, chatty: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for file in chatty.iterdir():
        if file.name != "chat_template.jinja":
            (plain / file.name).write_bytes(file.read_bytes())
    request = Request(messages=CAT.messages, params=Params(temperature=0, max_tokens=2))
    (templated,), (joined,) = complete(chatty, request), complete(plain, request)
    # "user: the cat sat" and "assistant:": five words; the template's were six tokens
    assert (templated.prompt_tokens, joined.prompt_tokens) == (6, 5)


def test_a_stop_string_cuts_the_text(chatty: Path) -> None:
    (full,) = complete(chatty, sampled(seed=5, max_tokens=12))
    words = full.text.split()
    stop = next(word for word in words[1:] if word != words[0])
    at_stop = Request(messages=CAT.messages, params=replace(sampled(5, 12).params, stop=(stop,)))
    (cut,) = complete(chatty, at_stop)  # the same seed: the same tokens up to the stop string
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.completion_tokens < full.completion_tokens  # generation ended at the stop string


def test_the_end_of_sequence_token_stops_generation(terse: Path) -> None:
    request = Request(messages=CAT.messages, params=Params(temperature=0, max_tokens=10))
    (done,) = complete(terse, request)
    assert (done.text, done.finish_reason, done.completion_tokens) == ("", "stop", 1)


def test_a_schema_request_gets_the_text_as_generated(chatty: Path) -> None:
    params = Params(temperature=0, max_tokens=4)
    plain = Request(messages=CAT.messages, params=params)
    schema = Request(messages=CAT.messages, params=params, schema={"type": "object"})
    assert complete(chatty, schema)[0].text == complete(chatty, plain)[0].text


def test_a_failed_generation_is_a_backend_error_with_a_reason(chatty: Path) -> None:
    long_prompt = Request(
        messages=[{"role": "user", "content": " ".join(["the cat sat"] * 30)}],
        params=Params(max_tokens=4),
    )  # 90 words: past the model's 64 positions
    with pytest.raises(GenerationFailed) as failed:
        complete(chatty, long_prompt)
    assert failed.value.reason == "generation_error"
    assert chatty.name in str(failed.value)


def test_a_folder_that_does_not_hold_a_model_fails_to_load(tmp_path: Path) -> None:
    _require("transformers")
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ModelLoadFailed, match="cannot load the model"):
        complete(tmp_path, CAT)


@pytest.mark.parametrize("model", ["gpt2", "org/some-model", "/no/such/folder"])
def test_a_hub_id_or_missing_folder_is_refused(model: str) -> None:
    with pytest.raises(ModelNotFound, match="no model hub") as refused:
        get_backend("transformers", model=model)
    assert repr(model) in str(refused.value)


def test_a_folder_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"has no config\.json"):
        get_backend("transformers", model=str(tmp_path))


@pytest.mark.parametrize("missing", ["torch", "transformers"])
def test_without_the_packages_the_error_names_the_fix(
    missing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # as if not installed
    with pytest.raises(MissingDependency) as error:
        get_backend("transformers", model=str(tmp_path))
    message = str(error.value)
    assert missing in message
    assert "pip install 'synthloop[transformers]'" in message
    assert "pip install torch==2.13.0" in message


def test_bad_settings_are_refused(chatty: Path) -> None:
    with pytest.raises(SynthloopError, match="dtype 'float8'"):
        get_backend("transformers", model=str(chatty), dtype="float8")
    with pytest.raises(SynthloopError, match="max_concurrency 0"):
        get_backend("transformers", model=str(chatty), max_concurrency=0)
