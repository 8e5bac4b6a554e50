"""The dedup step: exact and near duplicates planted in known places, found with exact counts;
the survivor rules; other datasets' records winning their clusters; options refused with the
rule and the fix; the same decisions in every run and every process."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from synthloop.curate import minhash
from synthloop.curate.base import Context, Doc, StepResult
from synthloop.curate.steps.dedup import Dedup, exact_key

WORDS = [f"w{i}" for i in range(3000)]


class Others(Context):
    """Another dataset's docs, by name, as the store would give them."""

    def __init__(self, datasets: dict[str, list[Doc]] | None = None) -> None:
        self.datasets = datasets or {}
        self.asked: list[str] = []

    def docs_of(self, dataset: str) -> list[Doc]:
        self.asked.append(dataset)
        return self.datasets[dataset]


def doc(id: int, text: str, **kw: Any) -> Doc:
    return Doc(id=id, key=f"r{id}", texts={"text": text}, dataset=kw.pop("dataset", "main"), **kw)


def paragraph(rng: random.Random, words: int = 80) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def edited(text: str, rng: random.Random, edits: int) -> str:
    words = text.split()
    for _ in range(edits):
        words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


def run(docs: Sequence[Doc], context: Context | None = None, **options: Any) -> StepResult:
    return Dedup(options).run(docs, context or Others())


def kept_of(result: StepResult) -> dict[int, str]:
    return {i: r.details["kept"] for i, r in result.rejected.items()}


# ------------------------------------------------------------------ exact


def test_exact_finds_case_whitespace_and_punctuation_variants() -> None:
    docs = [
        doc(1, "Where is my parcel?"),
        doc(2, "where   is my\nPARCEL"),
        doc(3, "Where is my parcel!!"),
        doc(4, "Where is my other parcel?"),
        doc(5, "\uff57\uff48\uff45\uff52\uff45 is my parcel"),  # fullwidth; NFKC: ASCII
        doc(6, "Refund order 7"),
        doc(7, "refund, order 7."),
        doc(8, ""),
        doc(9, "  "),
    ]
    result = run(docs, mode="exact")
    assert kept_of(result) == {2: "r1", 3: "r1", 5: "r1", 7: "r6"}
    assert {r.reason for r in result.rejected.values()} == {"duplicate"}
    assert result.counts == {"clusters": 2, "duplicate": 4}
    assert result.redacted == {}
    assert exact_key("  Hello,\tWORLD! ") == "hello world"


@pytest.mark.parametrize(
    ("keep", "survivor"),
    [("first", "r1"), ("highest_score", "r3"), ("human_first", "r2")],
)
def test_survivor_rules(keep: str, survivor: str) -> None:
    docs = [
        doc(1, "same text", score=0.2),
        doc(2, "Same text.", source="human", score=0.5),
        doc(3, "SAME TEXT", score=0.9),
        doc(4, "same  text", source="human"),
    ]
    result = run(docs, mode="exact", keep=keep)
    assert set(kept_of(result).values()) == {survivor}
    assert len(result.rejected) == 3


def test_highest_score_ties_and_missing_scores_go_to_the_first() -> None:
    docs = [doc(1, "a b c"), doc(2, "A B C", score=0.7), doc(3, "a b c!", score=0.7)]
    assert set(kept_of(run(docs, mode="exact", keep="highest_score")).values()) == {"r2"}
    docs = [doc(1, "a b c"), doc(2, "A B C")]
    assert set(kept_of(run(docs, mode="exact", keep="highest_score")).values()) == {"r1"}


# ------------------------------------------------------------------ near


def planted(seed: int = 7) -> tuple[list[Doc], dict[int, str]]:
    """40 distinct paragraphs, then 10 copies with 1-2 words changed and 2 exact copies with
    other case and spacing: the 12 expected rejections, by doc id, with the key they keep."""
    rng = random.Random(seed)
    texts = [paragraph(rng, rng.randint(50, 120)) for _ in range(40)]
    docs = [doc(i + 1, t) for i, t in enumerate(texts)]
    expected: dict[int, str] = {}
    for n in range(10):
        source = 3 * n
        docs.append(doc(100 + n, edited(texts[source], rng, edits=1 + n % 2)))
        expected[100 + n] = f"r{source + 1}"
    for n, source in enumerate((1, 4)):
        docs.append(doc(200 + n, "  " + texts[source].upper().replace(" ", "  ")))
        expected[200 + n] = f"r{source + 1}"
    return docs, expected


def test_near_finds_the_planted_copies_and_nothing_else() -> None:
    docs, expected = planted()
    result = run(docs)
    assert kept_of(result) == expected
    assert {r.reason for r in result.rejected.values()} == {"near_duplicate"}
    assert result.counts == {"clusters": 12, "near_duplicate": 12}
    for i, rejection in result.rejected.items():
        assert 0.8 <= rejection.details["similarity"] <= 1.0
        assert "kept_dataset" not in rejection.details
        if i >= 200:
            assert rejection.details["similarity"] == 1.0


def test_near_threshold_decides_on_the_exact_similarity() -> None:
    rng = random.Random(3)
    base = paragraph(rng, 100)
    copy = edited(base, rng, edits=12)
    similarity = minhash.jaccard(*(minhash.shingle([base, copy], 2).of(i) for i in (0, 1)))
    docs = [doc(1, base), doc(2, copy)]
    below = run(docs, threshold=round(similarity, 3) + 0.01, bands=32)
    above = run(docs, threshold=round(similarity, 3) - 0.01, bands=32)
    assert below.rejected == {}
    assert kept_of(above) == {2: "r1"}
    assert above.rejected[2].details["similarity"] == round(similarity, 4)


def test_a_cluster_keeps_one_and_rejects_every_other_member() -> None:
    rng = random.Random(11)
    base = paragraph(rng, 90)
    docs = [doc(10 - n, edited(base, rng, edits=1)) for n in range(5)]  # ids 10, 9, ... 6
    docs.append(doc(50, paragraph(rng, 90)))
    result = run(docs, keep="first")
    assert sorted(result.rejected) == [7, 8, 9, 10]
    assert set(kept_of(result).values()) == {"r6"}
    assert result.counts == {"clusters": 1, "near_duplicate": 4}


def test_many_copies_of_one_text_make_one_cluster() -> None:
    # More copies than a band bucket pairs with each other (64): still one cluster.
    rng = random.Random(4)
    base = paragraph(rng, 60)
    docs = [doc(i, base if i % 2 else base.upper()) for i in range(1, 201)]
    result = run(docs)
    assert sorted(result.rejected) == list(range(2, 201))
    assert set(kept_of(result).values()) == {"r1"}
    assert result.counts == {"clusters": 1, "near_duplicate": 199}


def test_short_and_empty_texts() -> None:
    docs = [doc(1, "hello"), doc(2, "Hello!"), doc(3, ""), doc(4, "..."), doc(5, "bye")]
    docs += [doc(6, "a NUL\0splits words"), doc(7, "a nul splits words")]
    result = run(docs)
    assert kept_of(result) == {2: "r1", 7: "r6"}
    assert run(docs[2:5]).counts == {}


def test_near_against_another_dataset() -> None:
    docs, expected = planted()
    rng = random.Random(5)
    # The other dataset holds an edited copy of doc 2 and of doc 40, and a text of its own.
    theirs = [
        doc(9001, edited(docs[1].text, rng, 1), dataset="gold"),
        doc(9002, edited(docs[39].text, rng, 1), dataset="gold"),
        doc(9003, paragraph(rng), dataset="gold"),
    ]
    context = Others({"gold": theirs})
    result = run(docs, context, against=["gold"])
    assert context.asked == ["gold"]
    assert not set(result.rejected) & {9001, 9002, 9003}
    # Doc 2 and its exact copy 200 both lose to gold's record; doc 40 too.
    assert {i: r.details for i, r in result.rejected.items() if i in (2, 40, 200)} == {
        2: {"kept": "r9001", "kept_dataset": "gold", "similarity": pytest.approx(0.95, abs=0.05)},
        200: {"kept": "r9001", "kept_dataset": "gold", "similarity": pytest.approx(0.95, abs=0.05)},
        40: {"kept": "r9002", "kept_dataset": "gold", "similarity": pytest.approx(0.95, abs=0.05)},
    }
    others = {i: k for i, k in kept_of(result).items() if i not in (2, 40, 200)}
    assert others == {i: k for i, k in expected.items() if i != 200}
    assert result.counts["near_duplicate"] == len(expected) + 2


def test_against_its_own_dataset_or_twice_the_same_one() -> None:
    docs = [doc(1, "where is my parcel", dataset="main"), doc(2, "Where is my parcel?")]
    theirs = [doc(9001, "refund please", dataset="old"), doc(9002, "Refund please", dataset="old")]
    context = Others({"main": docs, "old": theirs})
    result = run(docs, context, mode="exact", against=["main", "old"])
    assert kept_of(result) == {2: "r1"}
    assert result.counts == {"clusters": 1, "duplicate": 1}


def test_exact_against_another_dataset() -> None:
    theirs = [doc(9001, "Where is my parcel?", dataset="old"), doc(9002, "x y", dataset="old")]
    docs = [doc(1, "where is my parcel"), doc(2, "refund please"), doc(3, "Refund please!")]
    result = run(docs, Others({"old": theirs}), mode="exact", against=["old"])
    assert {i: r.details for i, r in result.rejected.items()} == {
        1: {"kept": "r9001", "kept_dataset": "old"},
        3: {"kept": "r2"},
    }


# ------------------------------------------------------------------ options


def test_bands_and_rows_are_derived_or_checked() -> None:
    assert Dedup().config.banding() == (16, 8)  # type: ignore[attr-defined]
    assert Dedup({"bands": 32}).config.banding() == (32, 4)  # type: ignore[attr-defined]
    assert Dedup({"rows": 2, "num_perm": 64}).config.banding() == (32, 2)  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match=r"bands \* rows must equal num_perm: 10 \* 10"):
        Dedup({"bands": 10, "rows": 10})
    with pytest.raises(ValidationError, match="bands 10 does not divide num_perm 128"):
        Dedup({"bands": 10})
    with pytest.raises(ValidationError, match="mode"):
        Dedup({"mode": "fuzzy"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        Dedup({"treshold": 0.9})


# ------------------------------------------------------------------ determinism

_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from test_dedup import planted, Others, Dedup
docs, _ = planted()
result = Dedup({{}}).run(docs, Others())
print(json.dumps({{str(i): dict(r.details) for i, r in sorted(result.rejected.items())}}))
"""


def test_the_same_decisions_every_run_and_every_process() -> None:
    docs, _ = planted()
    first, second = run(docs), run(list(docs))
    assert first.rejected == second.rejected
    here = {str(i): dict(r.details) for i, r in sorted(first.rejected.items())}
    script = _SCRIPT.format(tests=str(Path(__file__).parent))
    for seed in ("1", "2"):  # str hashes differ between these processes; ours must not
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        )
        assert json.loads(out.stdout) == here


def test_signatures_do_not_depend_on_batching(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(1)
    texts = [paragraph(rng, rng.randint(1, 60)) for _ in range(300)] + ["", "x\0y"]
    whole = minhash.signatures(texts, 3, 64)
    parts = np.concatenate([minhash.signatures(texts[i : i + 7], 3, 64) for i in range(0, 302, 7)])
    monkeypatch.setattr(minhash, "_BATCH_BYTES", 500)  # batches of a few docs each
    assert (minhash.signatures(texts, 3, 64) == whole).all()
    assert (whole == parts).all()
    assert (whole[300] == 0xFFFFFFFF).all()


def test_pair_jaccard_is_the_exact_jaccard() -> None:
    rng = random.Random(2)
    texts = [paragraph(rng, rng.randint(1, 50)) for _ in range(30)]
    texts += [edited(t, rng, 2) for t in texts[:10]] + ["", "one"]
    shingles = minhash.shingle(texts, 2)
    pairs = np.array([(a, b) for a in range(len(texts)) for b in range(a + 1, len(texts))])
    expected = [minhash.jaccard(shingles.of(a), shingles.of(b)) for a, b in pairs.tolist()]
    assert minhash.pair_jaccard(shingles, pairs).tolist() == pytest.approx(expected)
