"""Dataset settings: the issue's shape loads, and bad settings are reported all at once, each
problem with its path in the document and its line in the YAML file."""

from __future__ import annotations

from pathlib import Path

import pytest

import synthloop
from synthloop import Settings, SettingsError
from synthloop.demo import SETTINGS


def _problems(text: str) -> list[str]:
    with pytest.raises(SettingsError) as info:
        Settings.loads(text, source="settings.yaml")
    return [str(p) for p in info.value.problems]


def test_the_issue_settings_load() -> None:
    settings = Settings.loads(SETTINGS)
    assert [(f.name, f.type, f.required) for f in settings.fields] == [
        ("text", "text", True),
        ("reply", "markdown", True),
        ("conversation", "chat", False),
    ]
    assert [q.type for q in settings.questions] == [
        "label",
        "multi_label",
        "rating",
        "ranking",
        "text",
        "span",
    ]
    assert settings.question("quality").values == [1, 2, 3, 4, 5]
    assert settings.question("corrected_reply").prefill == "reply"
    assert settings.question("claims").field == "reply"
    assert settings.distribution.overlap == 2
    assert settings.guidelines.startswith("Label the customer's intent")


def test_settings_survive_to_dict_and_back() -> None:
    settings = Settings.loads(SETTINGS)
    assert Settings.parse(settings.to_dict()) == settings


def test_every_problem_is_reported_at_once_with_path_and_line() -> None:
    text = """\
fields:
  - {name: text, type: txt}
  - {name: reply, type: markdown}
questions:
  - {name: intent, type: lable, labels: [refund, other]}
  - {name: quality, type: rating, values: [1]}
  - {name: claims, type: span, field: nowhere, labels: [wrong]}
"""
    problems = _problems(text)
    assert len(problems) == 4, problems
    bad_field, bad_question, short_rating, bad_target = problems
    assert bad_field.startswith("fields.0 (line 2): ")
    assert "'txt'" in bad_field
    assert "'text', 'markdown', 'chat', 'json'" in bad_field
    assert bad_question.startswith("questions.0 (line 5): ")
    assert "'lable'" in bad_question
    assert short_rating.startswith("questions.1.values (line 6): ")
    assert bad_target.startswith("questions.2.field (line 7): ")
    assert "'nowhere'" in bad_target


def test_the_message_names_the_file_and_counts_the_problems() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.loads("fields: []\nquestions: 3\n", source="my-settings.yaml")
    message = str(info.value)
    assert message.startswith("invalid dataset settings in my-settings.yaml: 2 problems")
    assert "fields (line 1)" in message
    assert "questions (line 2)" in message


@pytest.mark.parametrize("name", ["id", "metadata", "status", "suggestions", "final"])
def test_reserved_field_names_are_refused(name: str) -> None:
    text = f"fields:\n  - {{name: text, type: text}}\n  - {{name: {name}, type: text}}\n"
    (problem,) = _problems(text)
    assert problem.startswith("fields.1.name (line 3): ")
    assert f"field name {name!r} is reserved" in problem


def test_repeated_names_and_bad_references_are_all_reported() -> None:
    text = """\
fields:
  - {name: text, type: text}
  - {name: text, type: markdown}
  - {name: chat, type: chat}
questions:
  - {name: fix, type: text, prefill: chat}
  - {name: fix, type: text}
"""
    problems = _problems(text)
    assert len(problems) == 3, problems
    assert any(
        p.startswith("fields.1.name (line 3): name 'text' is already used") for p in problems
    )
    assert any(p.startswith("questions.1.name (line 7): name 'fix'") for p in problems)
    assert any(
        p.startswith("questions.0.prefill (line 6)") and "not a text or markdown field" in p
        for p in problems
    )


@pytest.mark.parametrize(
    ("question", "complaint"),
    [
        ("{name: q, type: label, labels: [a]}", "at least 2"),
        ("{name: q, type: label, labels: [a, a]}", "labels must be unique; repeated: a"),
        ("{name: q, type: rating, values: [1, 1, 2]}", "values must be unique"),
        ("{name: q, type: ranking, options: [x]}", "at least 2"),
        ("{name: q, type: span, labels: [x]}", "Field required"),
        ("{name: q, type: label, labels: [a, b], colour: red}", "Extra inputs"),
        ("{name: 'bad name', type: text}", "should match pattern"),
    ],
)
def test_bad_questions_are_explained(question: str, complaint: str) -> None:
    (problem,) = _problems(f"fields:\n  - {{name: text, type: text}}\nquestions:\n  - {question}\n")
    assert problem.startswith("questions.0")
    assert "(line 4)" in problem
    assert complaint in problem


def test_distribution_limits_are_checked() -> None:
    text = "fields: [{name: text, type: text}]\ndistribution:\n  overlap: 0\n  gold_rate: 2\n"
    problems = _problems(text)
    assert [p.split(":")[0] for p in problems] == [
        "distribution.overlap (line 3)",
        "distribution.gold_rate (line 4)",
    ]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("fields: [", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("", "must be a mapping"),
    ],
)
def test_not_a_settings_document(text: str, complaint: str) -> None:
    (problem,) = _problems(text)
    assert complaint in problem


def test_load_reads_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(SETTINGS, encoding="utf-8")
    assert Settings.load(path) == Settings.loads(SETTINGS)


def test_load_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read settings"):
        Settings.load(tmp_path / "missing.yaml")


def test_a_store_accepts_settings_as_object_mapping_or_path(
    sqlite_store: synthloop.Store, tmp_path: Path
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(SETTINGS, encoding="utf-8")
    expected = Settings.loads(SETTINGS)
    sqlite_store.create_dataset("a", expected)
    sqlite_store.create_dataset("b", expected.to_dict())
    sqlite_store.create_dataset("c", path)
    assert all(sqlite_store.dataset(n).settings == expected for n in "abc")


def test_invalid_settings_create_no_dataset(sqlite_store: synthloop.Store) -> None:
    with pytest.raises(SettingsError):
        sqlite_store.create_dataset("broken", {"fields": [{"name": "id", "type": "text"}]})
    assert sqlite_store.datasets() == []
