"""The `semantic_dedup` step: records that say the same thing in other words, by sentence
embeddings.

MinHash (`dedup`) finds copies that share words; a paraphrase shares few. This step embeds each
record with a sentence-transformers model (a MiniLM, say) exported to ONNX, and calls two records
duplicates when the cosine similarity of their embeddings reaches the threshold. It is an
optional extra (`pip install 'synthloop[semantic]'`: onnxruntime and tokenizers, no torch) and
runs offline: the model is a local folder holding `model.onnx` and `tokenizer.json`, as
`optimum-cli export onnx --task feature-extraction` writes them; nothing is downloaded. ONNX
Runtime ran the same MiniLM about twice as fast as sentence-transformers on this CPU.

Embeddings are the mean of the token vectors under the attention mask, L2-normalised, so a dot
product is the cosine. Pairs come from blocked matrix products (`_BLOCK` rows by `_BLOCK`
columns), so 100k records never need a 100k x 100k matrix. Texts are embedded in batches sorted
by length (less padding), with whitespace collapsed first, so whitespace variants embed alike
whatever the tokenizer does with it.

Pairs form clusters (union-find) and one record of each survives by the `keep` rule, the same
rules as `dedup`'s; the others are rejected as `semantic_duplicate` naming it and their
similarity to it. Records of the `against` datasets are never rejected but win their clusters;
they are compared with this run's records, not with each other.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator

from synthloop.curate.base import (
    Context,
    Doc,
    Rejection,
    Step,
    StepResult,
    register_step,
)

# dedup's survivor rules and union-find: one meaning of `keep` for both steps.
from synthloop.curate.steps.dedup import SURVIVOR_RULES, ClusterOptions, components
from synthloop.errors import SynthloopError

__all__ = ["SemanticDedup", "SemanticDedupOptions", "model_problem"]

_FILES = ("model.onnx", "tokenizer.json")
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_BLOCK = 4096
# float32 rounding puts the cosine of two identical texts embedded in different batches at
# 0.9999999, under a threshold of 1.0.
_EPSILON = 1e-6

Vectors = NDArray[np.float32]


def model_problem(folder: Path) -> str | None:
    """What is wrong with `folder` as a model for semantic_dedup, or None."""
    if not folder.exists():
        if _HUB_ID.match(str(folder)):
            return (
                f"model {str(folder)!r} is not a local folder; it looks like a model hub id, and"
                " semantic_dedup downloads nothing: where the hub is reachable, export it with"
                f" `optimum-cli export onnx --model {folder} --task feature-extraction DIR`, copy"
                " DIR here and give its path"
            )
        return (
            f"model folder {str(folder)!r} does not exist; give a local folder holding"
            f" {' and '.join(_FILES)} (a sentence-transformers model exported to ONNX)"
        )
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        return (
            f"model folder {str(folder)!r} has no {' or '.join(missing)}; it needs"
            f" {' and '.join(_FILES)}, as `optimum-cli export onnx --task feature-extraction`"
            " writes them"
        )
    return None


class SemanticDedupOptions(ClusterOptions):
    model: str = Field(
        description=(
            "a local folder holding model.onnx and tokenizer.json (a sentence-transformers model"
            " exported to ONNX); nothing is downloaded"
        )
    )
    threshold: float = Field(
        0.95, gt=0.0, le=1.0, description="the cosine similarity that makes a duplicate"
    )
    batch_size: int = Field(64, ge=1, description="texts per model call")
    max_length: int = Field(
        256, ge=1, description="tokens per text; longer ones are truncated (MiniLM: at most 512)"
    )

    @field_validator("model")
    @classmethod
    def _local_folder(cls, value: str) -> str:
        problem = model_problem(Path(value).expanduser())
        if problem:
            raise ValueError(problem)
        return value


@register_step
class SemanticDedup(Step):
    name = "semantic_dedup"
    options = SemanticDedupOptions

    _encoder: _Encoder | None = None

    def run(self, docs: Sequence[Doc], context: Context) -> StepResult:
        config = self.config
        assert isinstance(config, SemanticDedupOptions)
        ours = {doc.id for doc in docs}
        others = [d for name in config.against for d in context.docs_of(name) if d.id not in ours]
        # An empty text is the quality rules' business, not a duplicate.
        pool = [(doc, text) for doc in [*others, *docs] if (text := " ".join(doc.text.split()))]
        first = sum(1 for doc, _ in pool if doc.id not in ours)  # others come first in the pool
        result = StepResult()
        if len(pool) - first == 0:
            return result
        vectors = self._encoder_for(config).embed([text for _, text in pool], config.batch_size)
        edges = _pairs(vectors, first, config.threshold - _EPSILON)
        rule = SURVIVOR_RULES[config.keep]
        for members in components(edges):
            outside = [i for i in members if i < first]
            kept = outside[0] if outside else min(members, key=lambda i: rule(pool[i][0]))
            rejected = [i for i in members if i != kept and i >= first]
            for i in rejected:
                similarity = min(float(vectors[kept] @ vectors[i]), 1.0)
                details = _details(pool[kept][0], kept < first, similarity)
                result.rejected[pool[i][0].id] = Rejection("semantic_duplicate", details)
            if rejected:
                result.counts["clusters"] += 1
                result.counts["semantic_duplicate"] += len(rejected)
        return result

    def _encoder_for(self, config: SemanticDedupOptions) -> _Encoder:
        if self._encoder is None:
            self._encoder = _Encoder(Path(config.model).expanduser(), config.max_length)
        return self._encoder


def _details(kept: Doc, outside: bool, similarity: float) -> dict[str, Any]:
    details: dict[str, Any] = {"kept": kept.key}
    if outside:
        details["kept_dataset"] = kept.dataset
    details["similarity"] = round(similarity, 4)
    return details


def _pairs(vectors: Vectors, first: int, threshold: float, block: int = _BLOCK) -> list[list[int]]:
    """Pairs [i, j], i < j, j >= first, whose cosine reaches `threshold`: each of this run's rows
    (from `first`) against every row before it, one block of rows by one of columns at a time."""
    edges: list[NDArray[np.int64]] = []
    for top in range(first, len(vectors), block):
        rows = vectors[top : top + block]
        bottom = top + len(rows)
        for left in range(0, bottom, block):
            similar = rows @ vectors[left : min(left + block, bottom)].T
            r, c = np.nonzero(similar >= threshold)
            pairs = np.stack([c + left, r + top], axis=1)
            edges.append(pairs[pairs[:, 0] < pairs[:, 1]])
    return np.concatenate(edges).tolist() if edges else []


def _onnxruntime() -> Any:
    try:
        return importlib.import_module("onnxruntime")
    except ImportError:
        raise SynthloopError(
            "semantic_dedup needs ONNX Runtime, which is not installed; install the extra with"
            " `pip install 'synthloop[semantic]'`"
        ) from None


def _cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


class _Encoder:
    """A sentence embedder from an ONNX model and its tokenizer.json, on the CPU."""

    def __init__(self, folder: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        ort = _onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = _cores()
        path = folder / "model.onnx"
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # onnxruntime's and tokenizers' own errors, untyped
            raise SynthloopError(
                f"model folder {str(folder)!r} cannot be loaded ({exc}); export the model again"
                " with `optimum-cli export onnx --task feature-extraction`"
            ) from exc
        # Models take token_type_ids or not, as int64 or int32: ask the model.
        self.inputs = {
            i.name: np.int32 if i.type == "tensor(int32)" else np.int64
            for i in self.session.get_inputs()
        }
        unknown = sorted(set(self.inputs) - set(_INPUTS))
        if unknown:
            raise SynthloopError(
                f"model {str(path)!r} takes inputs {', '.join(unknown)}, which semantic_dedup"
                f" cannot give (it gives {', '.join(_INPUTS)}); export a feature-extraction model"
                " with `optimum-cli export onnx --task feature-extraction`"
            )
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(**_padding(self.tokenizer))

    def embed(self, texts: list[str], batch_size: int) -> Vectors:
        """L2-normalised embeddings of `texts`, in their order."""
        order = np.argsort(np.fromiter(map(len, texts), np.int64, len(texts)), kind="stable")
        chunks = [
            self._batch([texts[i] for i in order[start : start + batch_size].tolist()])
            for start in range(0, len(texts), batch_size)
        ]
        vectors = np.concatenate(chunks)
        vectors[order] = vectors.copy()
        return vectors

    def _batch(self, texts: list[str]) -> Vectors:
        encodings = self.tokenizer.encode_batch(texts)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        given = {
            "input_ids": np.array([e.ids for e in encodings]),
            "attention_mask": mask,
            "token_type_ids": np.array([e.type_ids for e in encodings]),
        }
        feeds = {name: given[name].astype(dtype) for name, dtype in self.inputs.items()}
        output: Vectors = np.array(self.session.run(None, feeds)[0], dtype=np.float32)
        if output.ndim == 3:  # token vectors: mean over the real tokens
            weights = mask[:, :, None].astype(np.float32)
            output = (output * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        output /= np.maximum(np.linalg.norm(output, axis=1, keepdims=True), 1e-12)
        return output


def _padding(tokenizer: Any) -> dict[str, Any]:
    """Pad to the longest text of each batch, with the tokenizer's pad token when it has one."""
    configured = tokenizer.padding or {}
    if "pad_id" in configured:
        return {"pad_id": configured["pad_id"], "pad_token": configured["pad_token"]}
    for token in ("[PAD]", "<pad>"):
        pad_id = tokenizer.token_to_id(token)
        if pad_id is not None:
            return {"pad_id": pad_id, "pad_token": token}
    return {"pad_id": 0, "pad_token": "[PAD]"}
