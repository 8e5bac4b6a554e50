"""The decontaminate step: records sharing a word 13-gram with an evaluation item are rejected
with the file, item and n-gram; near misses below n words are not; bad files name file and line."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import synthloop
from synthloop.curate.base import Context, Doc, get_step
from synthloop.curate.run import CurateError, build_steps, curate
from synthloop.curate.steps.decontaminate import DecontaminateStep
from synthloop.errors import InvalidFile

Q1 = (
    "A train leaves the station at nine in the morning travelling at sixty miles per hour "
    "towards a city two hundred miles away"
)  # 24 words
Q2 = "Which gas do plants absorb from the air during photosynthesis and why do they need it"
SHORT = "Name the largest planet in the solar system."  # 8 words: one 8-gram
TINY = "Paris, France"  # under min_item_words: ignored


class NoStore(Context):
    def docs_of(self, dataset: str) -> list[Doc]:
        raise AssertionError("the decontaminate step never reads other datasets")


def words(text: str, start: int, count: int) -> str:
    return " ".join(text.split()[start : start + count])


@pytest.fixture
def eval_files(tmp_path: Path) -> list[str]:
    jsonl = tmp_path / "gsm.jsonl"
    rows = [{"question": Q1, "answer": "11 am"}, {"question": Q2}, {"question": TINY}]
    jsonl.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    txt = tmp_path / "trivia.txt"
    txt.write_text(f"\n{SHORT}\n\n", encoding="utf-8")
    return [str(jsonl), str(txt)]


def docs() -> list[Doc]:
    texts = [
        # 1: Q1's first 13 words, in another case and punctuation: contaminated
        "Here is a puzzle. " + words(Q1, 0, 13).upper().replace(" AT ", ", at ") + "? Solve it.",
        # 2: 12 of Q1's words in a row: a near miss, kept
        "Consider this: " + words(Q1, 5, 12) + " and then stop.",
        # 3: Q2 whole, inside a longer answer: contaminated (12 shared 13-grams)
        f"Question: {Q2}? Answer: carbon dioxide.",
        # 4: the short item whole: contaminated
        "Quiz time! Name the largest planet in the solar system. It is Jupiter.",
        # 5: the short item cut short: kept
        "Name the largest planet in the solar neighbourhood.",
        # 6: the ignored tiny item: kept
        "We flew to Paris, France last spring and loved it.",
        # 7: clean
        "Photosynthesis turns light into chemical energy in the leaves of plants.",
    ]
    return [Doc(i, f"k{i}", {"prompt": t}) for i, t in enumerate(texts, 1)]


def test_planted_contamination_is_rejected_with_the_item(eval_files: list[str]) -> None:
    gsm, trivia = eval_files
    result = DecontaminateStep({"files": eval_files}).run(docs(), NoStore())

    assert sorted(result.rejected) == [1, 3, 4]
    assert dict(result.counts) == {"contaminated": 3, "eval_items_ignored": 1}
    assert result.rejected[1].reason == "contaminated"
    assert result.rejected[1].details == {
        "file": gsm,
        "item": 0,
        "line": 1,
        "ngram": words(Q1, 0, 13).lower(),
        "overlap": 1,
    }
    assert result.rejected[3].details["item"] == 1
    assert result.rejected[3].details["overlap"] == len(Q2.split()) - 13 + 1
    assert result.rejected[4].details == {
        "file": trivia,
        "item": 0,
        "line": 2,
        "ngram": "name the largest planet in the solar system",
        "overlap": 1,
    }


def test_min_overlap_and_n(eval_files: list[str]) -> None:
    result = DecontaminateStep({"files": eval_files, "min_overlap": 2}).run(docs(), NoStore())
    assert sorted(result.rejected) == [3]  # doc 1 shares one 13-gram; short items one 8-gram
    result = DecontaminateStep({"files": eval_files, "n": 12}).run(docs(), NoStore())
    assert sorted(result.rejected) == [1, 2, 3, 4]  # the near miss is a 12-gram match


def test_without_normalising_case_and_punctuation_matter(eval_files: list[str]) -> None:
    result = DecontaminateStep({"files": eval_files, "normalise": False}).run(docs(), NoStore())
    # Doc 1 is upper-cased: kept. Doc 3 has "it?" where the item has "it": one 13-gram fewer.
    assert sorted(result.rejected) == [3, 4]
    assert result.rejected[3].details["overlap"] == len(Q2.split()) - 13


def test_csv_column_and_named_field(tmp_path: Path) -> None:
    csv_file = tmp_path / "eval.csv"
    csv_file.write_text(f'id,prompt\n1,"{Q2}"\n2,\n', encoding="utf-8")
    jsonl = tmp_path / "eval.jsonl"
    jsonl.write_bytes(orjson.dumps({"input": Q1, "text": "unrelated words here and there"}))
    step = get_step("decontaminate")({"files": [str(csv_file)]})
    assert sorted(step.run(docs(), NoStore()).rejected) == [3]
    step = DecontaminateStep({"files": [str(jsonl)], "field": "input"})
    assert sorted(step.run(docs(), NoStore()).rejected) == [1]


def test_a_json_array_file(tmp_path: Path) -> None:
    array = tmp_path / "eval.json"
    array.write_bytes(orjson.dumps([{"prompt": Q2}, {"prompt": SHORT}], option=orjson.OPT_INDENT_2))
    result = DecontaminateStep({"files": [str(array)]}).run(docs(), NoStore())
    assert sorted(result.rejected) == [3, 4]
    assert result.rejected[4].details["item"] == 1
    assert result.rejected[4].details["line"] == 2  # its position in the array, from 1
    array.write_text('[{"prompt": "x"}, 3]', encoding="utf-8")
    with pytest.raises(InvalidFile, match=r"eval.json item 2: no text key 'text'"):
        DecontaminateStep({"files": [str(array)]})


def test_bad_files_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(f'{{"question": "{Q2}"}}\n{{"answer": 1}}\nnot json\n[1]\n', encoding="utf-8")
    with pytest.raises(InvalidFile) as caught:
        DecontaminateStep({"files": [str(bad)]})
    message = str(caught.value)
    assert "3 problems" in message
    assert f"{bad} line 2: no text key 'text' or 'question'" in message
    assert "(found: 'answer')" in message
    assert "with the step's `field` option" in message
    assert f"{bad} line 3: not valid JSON" in message
    assert f"{bad} line 4: no text key" in message

    no_column = tmp_path / "eval.csv"
    no_column.write_text("id,body\n1,hello\n", encoding="utf-8")
    with pytest.raises(InvalidFile, match=r"line 1: no text column 'text' or .* 'id', 'body'"):
        DecontaminateStep({"files": [str(no_column)]})

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InvalidFile, match="no evaluation items: the file is empty"):
        DecontaminateStep({"files": [str(empty)]})

    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 au lait et croissants\n".encode("latin-1"))
    with pytest.raises(InvalidFile, match="not UTF-8 text"):
        DecontaminateStep({"files": [str(latin1)]})


def test_a_missing_file_is_reported_with_the_other_step_problems(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(CurateError) as caught:
        build_steps(
            [
                {"step": "decontaminate", "files": [str(missing)]},
                {"step": "decontaminate", "files": []},
            ]
        )
    message = str(caught.value)
    assert f"steps.0 (decontaminate): {missing}: cannot read the evaluation file" in message
    assert "steps.1 (decontaminate): files: List should have at least 1 item" in message


def test_through_the_runner_the_matched_item_is_stored(
    sqlite_store: synthloop.Store, eval_files: list[str]
) -> None:
    dataset = sqlite_store.create_dataset("d", {"fields": [{"name": "prompt", "type": "text"}]})
    dataset.add([{"id": d.key, "fields": dict(d.texts)} for d in docs()])
    report = curate(sqlite_store, "d", [{"step": "decontaminate", "files": eval_files}])
    assert dict(report.rejected) == {"contaminated": 3}
    assert report.steps[0].counts == {"contaminated": 3, "eval_items_ignored": 1}
    records = {r.external_id: r for r in dataset.records()}
    assert {k for k, r in records.items() if r.status == "rejected"} == {"k1", "k3", "k4"}
    assert records["k4"].metadata["curation"]["details"]["file"] == eval_files[1]
