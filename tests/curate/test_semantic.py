"""The semantic_dedup step on a real ONNX model: a tiny random BERT with a WordLevel tokenizer,
built and exported here (no download). Identical, case and whitespace variants cluster, distinct
texts do not; the survivor rules; other datasets' records winning their clusters; models with and
without token_type_ids; blocked pairs equal to the full matrix's; bad model paths and a missing
ONNX Runtime refused with the fix.

A random model says nothing about meaning: different texts can embed close together, so the
tests use a threshold of 0.9999, at which only texts with the same tokens match."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from synthloop.curate.base import Context, Doc, StepResult
from synthloop.curate.steps.semantic import SemanticDedup, _pairs
from synthloop.errors import SynthloopError

SENTENCES = [
    "where is my parcel",
    "the cat sat on the mat",
    "a dog ran in the park",
    "refund my order please",
    "how do i reset my password",
    "the weather is nice today",
]
STRICT = 0.9999


def _build(folder: Path, token_type_ids: bool) -> Path:
    """A 2-layer BERT (hidden 32) with random weights and a WordLevel tokenizer trained on
    SENTENCES, exported to `folder` as model.onnx and tokenizer.json."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    tokenizer.train_from_iterator(SENTENCES, trainer)
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    bert = BertModel(config).eval()

    class Hidden(torch.nn.Module):
        """BERT's token vectors, from positional inputs (as the exporter passes them)."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            names = ["input_ids", "attention_mask", "token_type_ids"][: len(inputs)]
            return self.bert(**dict(zip(names, inputs, strict=True))).last_hidden_state

    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if token_type_ids else [])
    ids = torch.ones(2, 5, dtype=torch.long)
    example = (ids, torch.ones_like(ids), torch.zeros_like(ids))[: len(names)]
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter (dynamo=False) warns that it is deprecated; it needs only the
        # `onnx` package, where the new one needs onnxscript and takes 5 s instead of 0.2 s.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden().eval(),
            example,
            str(folder / "model.onnx"),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    return folder


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("semantic") / "bert", token_type_ids=True)


class Others(Context):
    """Another dataset's docs, by name, as the store would give them."""

    def __init__(self, datasets: dict[str, list[Doc]] | None = None) -> None:
        self.datasets = datasets or {}

    def docs_of(self, dataset: str) -> list[Doc]:
        return self.datasets[dataset]


def doc(id: int, text: str, **kw: Any) -> Doc:
    return Doc(id=id, key=f"r{id}", texts={"text": text}, dataset=kw.pop("dataset", "main"), **kw)


def run(
    model: Path, docs: Sequence[Doc], context: Context | None = None, **options: Any
) -> StepResult:
    options = {"model": str(model), "threshold": STRICT, **options}
    return SemanticDedup(options).run(docs, context or Others())


def kept_of(result: StepResult) -> dict[int, str]:
    return {i: r.details["kept"] for i, r in result.rejected.items()}


DOCS = [
    doc(1, "Where is my parcel"),
    doc(2, "the cat sat on the mat"),
    doc(3, "where   is my\nPARCEL"),
    doc(4, "a dog ran in the park"),
    doc(5, "The cat sat on the mat"),
    doc(6, "refund my order please"),
    doc(7, "where is my parcel"),
    doc(8, "how do i reset my password"),
    doc(9, "the weather is nice today"),
    doc(10, "   "),
    doc(11, "my parcel is where"),  # the same words in another order: another text
]


def test_identical_and_variant_texts_cluster_distinct_ones_do_not(model: Path) -> None:
    result = run(model, DOCS)
    assert kept_of(result) == {3: "r1", 7: "r1", 5: "r2"}
    assert {r.reason for r in result.rejected.values()} == {"semantic_duplicate"}
    assert all(r.details["similarity"] == 1.0 for r in result.rejected.values())
    assert all("kept_dataset" not in r.details for r in result.rejected.values())
    assert result.counts == {"clusters": 2, "semantic_duplicate": 3}
    assert result.redacted == {}
    assert result.notes == {}


def test_distinct_texts_of_a_random_model_are_similar_but_under_the_strict_threshold(
    model: Path,
) -> None:
    loose = run(model, DOCS, threshold=0.01)
    # A random model puts everything close: at 0.01 every text with content is one cluster...
    assert set(loose.rejected) == {i for i in range(2, 12) if i != 10}
    assert loose.counts == {"clusters": 1, "semantic_duplicate": 9}
    # ... and the similarities it reports are the true cosines, under 1 for distinct texts.
    assert loose.rejected[3].details["similarity"] == 1.0
    assert 0.01 <= loose.rejected[2].details["similarity"] < STRICT


def test_batch_size_and_order_do_not_change_the_decisions(model: Path) -> None:
    expected = kept_of(run(model, DOCS))
    assert kept_of(run(model, DOCS, batch_size=1)) == expected
    assert kept_of(run(model, DOCS, batch_size=3, max_length=4)) == expected
    assert kept_of(run(model, list(reversed(DOCS)))) == expected


def test_truncation_makes_texts_equal_in_their_first_tokens(model: Path) -> None:
    docs = [doc(1, "where is my parcel"), doc(2, "where is my password")]
    assert run(model, docs).rejected == {}
    assert kept_of(run(model, docs, max_length=3)) == {2: "r1"}


def test_survivor_rules(model: Path) -> None:
    docs = [
        doc(1, "refund my order please", source="synthetic", score=0.4),
        doc(2, "Refund my order please", source="human", score=0.2),
        doc(3, "refund my  order please", source="synthetic", score=0.9),
        doc(4, "refund my order please", source="human"),
    ]
    assert kept_of(run(model, docs, keep="first")) == {2: "r1", 3: "r1", 4: "r1"}
    assert kept_of(run(model, docs, keep="highest_score")) == {1: "r3", 2: "r3", 4: "r3"}
    assert kept_of(run(model, docs, keep="human_first")) == {1: "r2", 3: "r2", 4: "r2"}


def test_other_datasets_records_win_and_are_never_rejected(model: Path) -> None:
    support = [
        doc(101, "the cat sat on the mat", dataset="support"),
        doc(102, "how do i reset my password", dataset="support"),
        doc(103, "How do I reset my password", dataset="support"),  # a pair of their own
    ]
    faq = [doc(201, "the weather is  nice today", dataset="faq")]
    context = Others({"support": support, "faq": faq})
    docs = [
        doc(1, "The cat sat on the mat", source="human", score=1.0),
        doc(2, "the cat sat on the mat"),
        doc(3, "where is my parcel"),
        doc(4, "the weather is nice today"),
    ]
    result = run(model, docs, context, against=["support", "faq"], keep="human_first")
    assert kept_of(result) == {1: "r101", 2: "r101", 4: "r201"}
    assert result.rejected[1].details == {
        "kept": "r101",
        "kept_dataset": "support",
        "similarity": 1.0,
    }
    assert result.rejected[4].details["kept_dataset"] == "faq"
    assert result.counts == {"clusters": 2, "semantic_duplicate": 3}
    # The run's own dataset named in `against` does not make a record its own duplicate.
    context = Others({"main": docs})
    assert kept_of(run(model, docs, context, against=["main"])) == {2: "r1"}


def test_a_model_without_token_type_ids(model: Path, tmp_path: Path) -> None:
    plain = _build(tmp_path / "plain", token_type_ids=False)
    result = run(plain, DOCS)
    assert kept_of(result) == {3: "r1", 7: "r1", 5: "r2"}


def test_blocked_pairs_equal_the_full_matrix() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(23, 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    full = vectors @ vectors.T
    for first in (0, 5):
        expected = sorted([i, j] for j in range(first, 23) for i in range(j) if full[i, j] >= 0.6)
        for block in (1, 4, 7, 100):
            assert sorted(_pairs(vectors, first, 0.6, block)) == expected
    assert expected  # the threshold leaves pairs to find


def test_nothing_to_compare(model: Path) -> None:
    assert run(model, []).rejected == {}
    assert run(model, [doc(1, ""), doc(2, " ")]).counts == {}


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        (
            "sentence-transformers/all-MiniLM-L6-v2",
            [
                "model 'sentence-transformers/all-MiniLM-L6-v2' is not a local folder",
                "looks like a model hub id",
                "downloads nothing",
                "optimum-cli export onnx --model sentence-transformers/all-MiniLM-L6-v2",
            ],
        ),
        ("/nowhere/at/all", ["model folder '/nowhere/at/all' does not exist", "tokenizer.json"]),
    ],
)
def test_a_model_that_is_not_a_local_folder_is_refused(value: str, messages: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        SemanticDedup({"model": value})
    for message in messages:
        assert message in str(caught.value)


def test_a_folder_without_the_files_is_refused(model: Path, tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes((model / "model.onnx").read_bytes())
    with pytest.raises(ValidationError, match=r"has no tokenizer\.json"):
        SemanticDedup({"model": str(tmp_path)})
    with pytest.raises(ValidationError, match="model\n  Field required"):
        SemanticDedup({})


def test_a_broken_model_file_is_refused_on_loading(model: Path, tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    (tmp_path / "tokenizer.json").write_bytes((model / "tokenizer.json").read_bytes())
    with pytest.raises(SynthloopError, match="cannot be loaded"):
        run(tmp_path, DOCS)


def test_without_onnxruntime_the_error_names_the_extra(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what a missing package looks like
    with pytest.raises(SynthloopError, match=r"pip install 'synthloop\[semantic\]'"):
        run(model, DOCS)
