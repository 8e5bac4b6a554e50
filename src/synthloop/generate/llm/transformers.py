"""`transformers`: a causal LM from a local folder (as `save_pretrained` writes it), run in-process.

An optional extra: synthloop imports and works without transformers or torch, so this module
imports them only when a model is loaded, and says how to install them when they are missing.
There is no model hub here: `model` must be a folder on disk, and loading never downloads.

The model is loaded on the first `complete`, in a worker thread: building the backend (to check a
recipe, or for a dry run) stays cheap, and seconds of weight loading never block the event loop.
The path and the packages are checked when the backend is built, so those mistakes surface early.
`generate` blocks, so it runs in a thread too, at most `max_concurrency` at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from synthloop.errors import SynthloopError
from synthloop.generate.llm.base import Backend, BackendError, Completion, Message, Request

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "DTYPES",
    "GenerationFailed",
    "MissingDependency",
    "ModelLoadFailed",
    "ModelNotFound",
    "TransformersBackend",
]

DTYPES = ("float32", "bfloat16", "float16", "auto")

INSTALL_HINT = (
    "install torch first, as a CPU build on a machine without a GPU "
    "(`pip install torch==2.13.0`, never a CUDA build there), then "
    "`pip install 'synthloop[transformers]'`"
)

# torch's random generator is one per process: a sampled generation holds this lock from
# `manual_seed` to its last token, so a seeded request gives the same text under concurrency.
_SAMPLING = threading.Lock()


class MissingDependency(SynthloopError):
    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"the 'transformers' backend needs the packages {', '.join(missing)}, which are not "
            f"installed; {INSTALL_HINT}"
        )
        self.missing = missing


class ModelNotFound(SynthloopError):
    def __init__(self, model: str, problem: str) -> None:
        super().__init__(
            f"model {model!r} {problem}: the 'transformers' backend loads a local folder written "
            "by save_pretrained (config.json, the weights and the tokenizer files); there is no "
            "model hub here, so fetch the model elsewhere and pass its folder's path"
        )
        self.model = model


class ModelLoadFailed(SynthloopError):
    """Not a `BackendError`: a model that cannot load fails every request, so the run stops."""

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(
            f"cannot load the model in {model!r}: {detail}; check that the folder holds a causal "
            "LM and its tokenizer, and the backend's `device` and `dtype`"
        )
        self.model = model


class GenerationFailed(BackendError):
    """`generate` raised: a prompt longer than the model's context, an unknown `extra` key..."""

    reason = "generation_error"

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(f"model {model!r} failed to generate: {detail}")


class TransformersBackend(Backend):
    """A local causal LM. `model` is its folder; `device` a torch device (`cpu`, `cuda:0`);
    `dtype` one of `DTYPES` (`auto` keeps the checkpoint's); `max_new_tokens` applies when a
    request sets no `max_tokens`. A schema cannot constrain decoding here: the text comes back
    as generated, and the caller validates it."""

    backend_type: ClassVar[str] = "transformers"

    def __init__(
        self,
        *,
        model: str,
        device: str = "cpu",
        max_concurrency: int = 1,
        dtype: str = "float32",
        trust_remote_code: bool = False,
        max_new_tokens: int = 256,
    ) -> None:
        _check_installed()
        if dtype not in DTYPES:
            raise SynthloopError(f"dtype {dtype!r} is not supported; use one of {DTYPES}")
        if max_concurrency < 1:
            raise SynthloopError(f"max_concurrency {max_concurrency} must be at least 1")
        self.path = _model_folder(model)
        self.model = self.path.name
        self.device, self.dtype = device, dtype
        self.trust_remote_code, self.max_new_tokens = trust_remote_code, max_new_tokens
        self.max_concurrency = max_concurrency
        self._loaded: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None
        self._load_lock = threading.Lock()
        self._limit: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        # The asyncio semaphore queues requests without holding threads; this one still bounds
        # the generations when a caller's timeout abandons a thread that keeps on running.
        self._running = threading.BoundedSemaphore(max_concurrency)

    async def complete(self, request: Request) -> Completion:
        async with self._semaphore():
            return await asyncio.to_thread(self._complete, request)

    def cache_identity(self) -> str:
        # The folder's name alone is often `checkpoint-1000`: the full path, and the dtype,
        # tell two models apart.
        return f"{self.backend_type}:{self.path}:{self.dtype}"

    def _semaphore(self) -> asyncio.Semaphore:
        # One per event loop: an asyncio primitive belongs to the loop that first waits on it.
        loop = asyncio.get_running_loop()
        if self._limit is None or self._limit[0] is not loop:
            self._limit = (loop, asyncio.Semaphore(self.max_concurrency))
        return self._limit[1]

    def _load(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = _load_model(
                    self.path, self.device, self.dtype, self.trust_remote_code
                )
            return self._loaded

    def _complete(self, request: Request) -> Completion:
        model, tokenizer = self._load()
        prompt = _prompt(tokenizer, request.messages)
        params = request.params
        limit = params.max_tokens if params.max_tokens is not None else self.max_new_tokens
        try:
            inputs = tokenizer(
                prompt, return_tensors="pt", add_special_tokens=not _templated(tokenizer)
            )
            inputs = inputs.to(model.device)
            with self._running:
                new = _generate(model, tokenizer, inputs, request, limit)
        except Exception as exc:  # torch and transformers raise many types; all mean "no text"
            raise GenerationFailed(self.model, f"{type(exc).__name__}: {exc}") from exc
        text = str(tokenizer.decode(new, skip_special_tokens=True))
        text, cut = _cut(text, params.stop or ())
        ended = bool(len(new)) and int(new[-1]) in _eos_ids(model)
        return Completion(
            text=text,
            finish_reason="stop" if cut or ended or len(new) < limit else "length",
            prompt_tokens=int(inputs["input_ids"].shape[1]),
            completion_tokens=len(new),
            model=self.model,
        )


def _check_installed() -> None:
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependency(missing)


def _model_folder(model: str) -> Path:
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ModelNotFound(model, "is not a folder on this machine")
    if not (path / "config.json").is_file():
        raise ModelNotFound(model, "has no config.json")
    return path.resolve()


def _load_model(
    path: Path, device: str, dtype: str, trust_remote_code: bool
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingDependency([exc.name or str(exc)]) from exc
    options: dict[str, Any] = {"local_files_only": True, "trust_remote_code": trust_remote_code}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **options)
        options[_dtype_keyword()] = dtype if dtype == "auto" else getattr(torch, dtype)
        # Any: from_pretrained's and to()'s annotations do not follow the model class through.
        model: Any = AutoModelForCausalLM.from_pretrained(path, **options)
        model.to(torch.device(device))
    except (OSError, ValueError, RuntimeError, ImportError) as exc:
        raise ModelLoadFailed(str(path), f"{type(exc).__name__}: {exc}") from exc
    model.eval()
    return model, tokenizer


def _dtype_keyword() -> str:
    # transformers 4.56 renamed from_pretrained's `torch_dtype` to `dtype`; 5 warns on the old.
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _templated(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _prompt(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message]) -> str:
    """The model's chat template when its tokenizer has one; otherwise `role: content` lines
    and a last `assistant:` line to answer after."""
    chat = [dict(m) for m in messages]
    if _templated(tokenizer):
        text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        assert isinstance(text, str)
        return text
    lines = [f"{m.get('role', 'user')}: {m.get('content', '')}" for m in chat]
    return "\n".join([*lines, "assistant:"])


def _generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    inputs: Any,
    request: Request,
    limit: int,
) -> torch.Tensor:
    """The new token ids (prompt excluded) of one generation."""
    import torch
    from transformers import StoppingCriteriaList

    params = request.params
    config = model.generation_config
    temperature = params.temperature
    sample = bool(config.do_sample) if temperature is None else temperature > 0
    options: dict[str, Any] = {"max_new_tokens": limit, "do_sample": sample}
    if sample:
        options.update({"temperature": temperature, "top_p": params.top_p})
        options = {key: value for key, value in options.items() if value is not None}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else config.eos_token_id
    if pad is not None:
        options["pad_token_id"] = pad
    prompt_length = int(inputs["input_ids"].shape[1])
    if params.stop:
        stop = _StopOnStrings(tokenizer, prompt_length, params.stop)
        options["stopping_criteria"] = StoppingCriteriaList([stop])
    options.update(params.extra)
    with _SAMPLING if sample else contextlib.nullcontext():
        if params.seed is not None:
            torch.manual_seed(params.seed)
        output: torch.Tensor = model.generate(**inputs, **options)  # type: ignore[operator]
    return output[0, prompt_length:]


class _StopOnStrings:
    """Ends generation once the new text holds a stop string (the text is cut afterwards);
    decoding the new tokens each step costs little beside a forward pass."""

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, prompt_length: int, stops: Sequence[str]
    ) -> None:
        self.tokenizer, self.prompt_length, self.stops = tokenizer, prompt_length, stops

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        import torch

        done = [
            any(
                s in str(self.tokenizer.decode(row[self.prompt_length :], skip_special_tokens=True))
                for s in self.stops
            )
            for row in input_ids
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _cut(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """`text` up to its first stop string, and whether one was found."""
    positions = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(positions)], True) if positions else (text, False)


def _eos_ids(model: PreTrainedModel) -> set[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        return set()
    return {int(e) for e in eos} if isinstance(eos, list | tuple) else {int(eos)}
