"""RowParser: one row in, a validated Record or every problem with the row out."""

from __future__ import annotations

from typing import Any

import pytest

from synthloop import Settings
from synthloop.demo import SETTINGS
from synthloop.rows import RowParser


@pytest.fixture
def parser() -> RowParser:
    return RowParser(Settings.loads(SETTINGS))


def _problems(parser: RowParser, row: dict[str, Any]) -> list[str]:
    record, problems = parser.parse(row)
    assert record is None
    return problems


def test_a_flat_row_becomes_a_pending_imported_record(parser: RowParser) -> None:
    record, problems = parser.parse({"text": "hi", "reply": "hello", "metadata": {"k": 1}})
    assert problems == []
    assert record is not None
    assert record.fields == {"text": "hi", "reply": "hello"}
    assert record.external_id is None  # the importer gives it the content hash
    assert record.metadata == {"k": 1}
    assert (record.status, record.source, record.priority) == ("pending", "imported", 0.0)


def test_a_nested_row_keeps_everything(parser: RowParser) -> None:
    row = {
        "id": 7,
        "fields": {
            "text": "hi",
            "reply": "hello",
            "conversation": [{"role": "user", "content": "x"}],
        },
        "provenance": {"source": "synthetic", "model": "m", "task": "qa"},
        "status": "rejected",
        "reason": "duplicate",
        "priority": "2.5",
        "suggestions": {"intent": {"value": "refund", "score": 0.9, "agent": "judge"}},
        "responses": [{"user": "ana", "values": {"intent": "other", "quality": 2}}],
        "final": {"intent": "other"},
    }
    record, problems = parser.parse(row)
    assert problems == []
    assert record is not None
    assert record.external_id == "7"
    assert record.source == "synthetic"
    assert record.priority == 2.5
    assert record.suggestions["intent"].agent == "judge"
    assert record.responses[0].status == "submitted"
    assert record.final == {"intent": "other"}


def test_every_problem_in_a_row_is_listed(parser: RowParser) -> None:
    problems = _problems(
        parser,
        {
            "text": 1,
            "status": "done",
            "priority": "high",
            "provenance": {"source": "llm"},
            "colour": "red",
        },
    )
    assert len(problems) == 6, problems
    joined = "\n".join(problems)
    for expected in (
        "field 'text' (text): expected a string, got int 1",
        "field 'reply' is required but missing",
        "status 'done' is not one of",
        "'priority' must be a finite number",
        "provenance source 'llm' is not one of",
        "'colour' is not a field of this dataset",
    ):
        assert expected in joined


@pytest.mark.parametrize(
    ("answers", "complaint"),
    [
        ({"intent": "refnud"}, "label 'refnud' is not one of"),
        ({"topics": ["billing", "billing"]}, "repeat a label"),
        ({"topics": "billing"}, "expected a list of labels"),
        ({"quality": 6}, "rating 6 is not one of [1, 2, 3, 4, 5]"),
        ({"quality": True}, "rating True is not one of"),
        ({"better": ["reply"]}, "must list each of ['reply', 'alternative'] once"),
        ({"corrected_reply": 3}, "expected a string"),
        ({"claims": [{"start": 0, "end": 999, "label": "wrong"}]}, "past the end of field 'reply'"),
        ({"claims": [{"start": 2, "end": 1, "label": "wrong"}]}, "0 <= start < end"),
        ({"claims": [{"start": 0, "end": 1, "label": "typo"}]}, "label 'typo' is not one of"),
        ({"mood": "happy"}, "question 'mood' does not exist"),
    ],
)
def test_answers_are_checked_against_their_question(
    parser: RowParser, answers: dict[str, Any], complaint: str
) -> None:
    row = {"text": "t", "reply": "a short reply", "final": answers}
    (problem,) = _problems(parser, row)
    assert problem.startswith("final: ")
    assert complaint in problem


def test_a_submitted_response_must_answer_the_required_questions(parser: RowParser) -> None:
    row = {"text": "t", "reply": "r", "responses": [{"user": "ana", "values": {"intent": "other"}}]}
    (problem,) = _problems(parser, row)
    assert "response 0: a submitted response must answer the required questions" in problem
    assert "'quality'" in problem
    draft = {"user": "ana", "values": {"intent": "other"}, "status": "draft"}
    record, problems = parser.parse({"text": "t", "reply": "r", "responses": [draft]})
    assert problems == []
    assert record is not None


def test_one_response_per_user(parser: RowParser) -> None:
    answer = {"user": "ana", "values": {"intent": "other", "quality": 3}}
    (problem,) = _problems(parser, {"text": "t", "reply": "r", "responses": [answer, answer]})
    assert "user 'ana' answers twice" in problem


@pytest.mark.parametrize("status", ["rejected", "failed"])
def test_a_dropped_record_needs_a_reason(parser: RowParser, status: str) -> None:
    (problem,) = _problems(parser, {"text": "t", "reply": "r", "status": status})
    assert f"status {status!r} needs a 'reason'" in problem


def test_a_status_of_the_wrong_type_is_a_problem_not_a_crash(parser: RowParser) -> None:
    (problem,) = _problems(parser, {"text": "t", "reply": "r", "status": ["rejected"]})
    assert "status ['rejected'] is not one of" in problem


def test_keys_beside_fields_in_a_nested_row(parser: RowParser) -> None:
    (problem,) = _problems(parser, {"fields": {"text": "t", "reply": "r"}, "text": "again"})
    assert "unknown keys ['text'] beside 'fields'" in problem


def test_mapping_fills_a_field_from_another_column() -> None:
    parser = RowParser(Settings.loads(SETTINGS), mapping={"text": "question"})
    record, problems = parser.parse({"question": "hi", "reply": "hello"})
    assert problems == []
    assert record is not None
    assert record.fields == {"text": "hi", "reply": "hello"}


def test_columnar_cells_hold_json_text_and_none_is_absent() -> None:
    parser = RowParser(Settings.loads(SETTINGS), columnar=True)
    record, problems = parser.parse(
        {
            "text": "",  # an empty string is a value of a text field (Parquet keeps it)
            "reply": "r",
            "conversation": '[{"role": "user", "content": "hi"}]',
            "metadata": '{"k": [1, 2]}',
            "reason": None,
            "final": "",
        }
    )
    assert problems == []
    assert record is not None
    assert record.fields["text"] == ""
    assert record.fields["conversation"] == [{"role": "user", "content": "hi"}]
    assert record.metadata == {"k": [1, 2]}
    assert record.final is None


def test_columnar_json_that_does_not_parse() -> None:
    parser = RowParser(Settings.loads(SETTINGS), columnar=True)
    (problem,) = _problems(parser, {"text": "t", "reply": "r", "metadata": "{oops"})
    assert problem.startswith("column 'metadata' must hold JSON")


def test_header_problems_are_found_once() -> None:
    parser = RowParser(Settings.loads(SETTINGS), mapping={"text": "prompt"})
    problems = parser.check_columns(["question", "reply", "colour"])
    assert problems == [
        "--map text=prompt: the file has no column 'prompt' (columns: question, reply, colour)",
        "column 'text' is missing: it holds the required field 'text'; add it, or take it "
        "from another column with --map text=COLUMN (columns: question, reply, colour)",
        "columns 'question', 'colour' match no field (fields: text, reply, conversation); "
        "rename with --map FIELD=COLUMN or drop the column",
    ]
