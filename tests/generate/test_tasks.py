"""The task library: units, rendered prompts, answers from the fake backend, and settings.

The fake backend is the only stand-in: each task's real requests go to it and its real
`parse` and `build` turn the answers into record fields (or suggestions), which must fit the
settings the task creates its dataset with.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthloop.errors import SynthloopError
from synthloop.generate.llm.fake import FakeBackend
from synthloop.generate.tasks import Output, SourceItem, Task, Unit, get_task, task_names
from synthloop.generate.tasks.documents import chunks, read_folder
from synthloop.settings import Settings

ITEMS = [
    SourceItem(
        "seeds.jsonl line 1",
        {
            "text": "Tides rise twice a day.\n\nThe Moon's gravity pulls the oceans.",
            "instruction": "Explain why the sky is blue.",
            "persona": "a night-shift nurse who is always short of time",
            "goal": "plan a cheap weekend trip",
            "prompt": "How do I cook rice?",
            "response": "Boil one cup of rice in two cups of water for 18 minutes.",
        },
    ),
    SourceItem(
        "seeds.jsonl line 2",
        {
            "text": "Bees dance to show where flowers are.",
            "instruction": "Write a haiku about autumn.",
            "persona": "a retired sailor",
            "goal": "learn to use a smartphone",
            "prompt": "What is a good name for a cat?",
            "response": "Mittens.",
        },
    ),
    SourceItem(
        "seeds.jsonl line 3",
        {
            "text": "Glass is made from sand.",
            "instruction": "List three uses of vinegar.",
            "persona": "a student",
            "goal": "pass an exam",
            "prompt": "Summarise the French revolution.",
            "response": "It began in 1789.",
        },
    ),
]

TARGET = Settings.parse(
    {
        "guidelines": "Label the topic of the prompt.",
        "fields": [
            {"name": "prompt", "type": "text", "title": "Prompt"},
            {"name": "response", "type": "markdown"},
            {"name": "meta", "type": "json", "required": False},
        ],
        "questions": [
            {"name": "topic", "type": "label", "labels": ["food", "pets", "history"]},
            {"name": "tags", "type": "multi_label", "labels": ["short", "polite", "wrong"]},
            {"name": "quality", "type": "rating", "values": [1, 2, 3, 4, 5]},
            {"name": "fix", "type": "text", "required": False},
        ],
    }
)

# name: (options, other options that must change the units)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "responses": ({}, {"n": 2}),
    "qa_from_documents": ({"chunk_chars": 100, "overlap": 20}, {"field": "response"}),
    "self_instruct": ({"n": 4, "seeds_per_prompt": 2}, {"n": 4, "seeds_per_prompt": 2, "seed": 7}),
    "evolve": ({}, {"methods": ["reasoning"]}),
    "dialogue": ({"turns": 2}, {"turns": 3}),
    "edge_cases": ({"per_category": 1}, {"per_category": 1, "domain": "banking"}),
    "translate": ({"languages": ["de", "fr"]}, {"languages": ["ja"]}),
    "judge": ({}, {"scale": [0, 10]}),
    "prelabel": ({}, {"questions": ["topic"]}),
}

# What `build` returns, by task (and the shape of each value).
BUILT: dict[str, dict[str, type]] = {
    "responses": {"response": str},
    "qa_from_documents": {"question": str, "answer": str},
    "self_instruct": {"instruction": str, "input": str},
    "evolve": {"instruction": str},
    "dialogue": {"chat": list},
    "edge_cases": {"prompt": str, "expected_behaviour": str},
    "translate": {"translation": str},
    "judge": {"quality": dict},
    "prelabel": {"topic": dict, "tags": dict, "quality": dict},
}


def make(name: str, options: dict[str, Any] | None = None, **kw: Any) -> Task:
    return get_task(name)(CASES[name][0] if options is None else options, settings=TARGET, **kw)


def answer(task: Task, unit: Unit) -> tuple[list[Output], dict[str, Any]]:
    """Each of the unit's requests answered by the fake backend, parsed, then built."""
    fake = FakeBackend()
    outputs = []
    for request in unit.requests:
        completion = asyncio.run(fake.complete(request))
        outputs.append(Output(completion, task.parse(completion.text)))
    return outputs, task.build(unit, outputs)


def user_message(unit: Unit, index: int = 0) -> str:
    return next(m["content"] for m in unit.requests[index].messages if m["role"] == "user")


def system_message(unit: Unit) -> str:
    return next(m["content"] for m in unit.requests[0].messages if m["role"] == "system")


def test_every_task_is_registered() -> None:
    assert set(task_names()) >= set(CASES)


# ------------------------------------------------------------------ units


@pytest.mark.parametrize("name", sorted(CASES))
def test_units_are_deterministic_and_follow_the_options(name: str) -> None:
    _, other = CASES[name]
    keys = [u.key for u in make(name).units(ITEMS)]
    assert keys
    assert keys == [u.key for u in make(name).units(ITEMS)]
    assert len(set(keys)) == len(keys)
    others = list(make(name, other).units(ITEMS))
    if get_task(name).kind == "suggestions":
        # an annotating task's unit is the record it annotates: same keys, other requests
        assert keys == [u.key for u in others] == [item.id for item in ITEMS]
        digests = {u.requests[0].digest() for u in make(name).units(ITEMS)}
        assert digests.isdisjoint(u.requests[0].digest() for u in others)
    else:
        assert set(keys).isdisjoint(u.key for u in others)


@pytest.mark.parametrize("name", [n for n in sorted(CASES) if get_task(n).kind == "records"])
def test_another_model_makes_other_keys(name: str) -> None:
    first = [u.key for u in make(name, model="m1").units(ITEMS)]
    second = [u.key for u in make(name, model="m2").units(ITEMS)]
    assert set(first).isdisjoint(second)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("qa_from_documents", {"field": "body"}, r"has no field 'body'.*`field:`"),
        ("evolve", {"field": "prompt2"}, r"has no field 'prompt2'"),
        ("dialogue", {"goal_field": "aim"}, r"has no field 'aim'.*`goal_field:`"),
        ("judge", {"response_field": "answer"}, r"has no field 'answer'.*`response_field:`"),
        ("translate", {"languages": ["de"], "field": "x"}, r"item 'seeds.jsonl line 1'"),
    ],
)
def test_a_missing_source_field_names_the_option_to_set(
    name: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(SynthloopError, match=message):
        list(make(name, options).units(ITEMS))


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("translate", {}, r"languages"),
        ("translate", {"languages": ["de", "de"]}, r"repeat a language"),
        ("qa_from_documents", {"chunk_chars": 500, "overlap": 500}, r"smaller than chunk_chars"),
        ("evolve", {"methods": ["deepen", "deepen"]}, r"repeat a method"),
        ("evolve", {"methods": ["simplify"]}, r"deepen"),
        ("judge", {"scale": [5, 1]}, r"lowest < highest"),
        ("judge", {"rubric": [{"name": "a"}, {"name": "a"}]}, r"repeated: a"),
        ("edge_cases", {"mode": "fuzz"}, r"taxonomy"),
        ("edge_cases", {"injection_styles": ["shouting"]}, r"ignore_previous"),
        ("self_instruct", {"colour": "red"}, r"colour"),
    ],
)
def test_bad_options_are_refused(name: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(name, options)


def test_qa_units_per_chunk_and_pair() -> None:
    long_text = "\n\n".join(f"Paragraph {i} " + "word " * 15 for i in range(6))
    item = SourceItem("guide.md", {"text": long_text, "path": "docs/guide.md"})
    task = make("qa_from_documents", {"chunk_chars": 200, "overlap": 40, "pairs_per_chunk": 2})
    units = list(task.units([item]))
    parts = chunks(long_text, 200, 40)
    assert len(parts) > 1
    assert len(units) == 2 * len(parts)
    assert [u.parent for u in units[:4]] == ["guide.md#0", "guide.md#0", "guide.md#1", "guide.md#1"]
    assert units[0].fields == {"context": parts[0], "document": "docs/guide.md"}
    # pairs of one chunk differ by their seed only, and asking for more keeps the first ones
    fewer = make("qa_from_documents", {"chunk_chars": 200, "overlap": 40})
    assert {u.key for u in fewer.units([item])} <= {u.key for u in units}
    assert units[0].requests[0].messages == units[1].requests[0].messages
    assert units[0].requests[0].params.seed != units[1].requests[0].params.seed


def test_self_instruct_samples_over_all_seeds_and_keeps_earlier_units() -> None:
    task = make("self_instruct", {"n": 6, "seeds_per_prompt": 2})
    units = list(task.units(iter(ITEMS)))  # a one-pass iterator is enough
    assert len(units) == 6
    shown = [re.findall(r"Task \d: (.*)", user_message(u)) for u in units]
    assert all(len(s) == 2 for s in shown)
    seeds = {str(item.fields["instruction"]) for item in ITEMS}
    assert set().union(*shown) == seeds  # every seed gets used somewhere
    more = [u.key for u in make("self_instruct", {"n": 8, "seeds_per_prompt": 2}).units(ITEMS)]
    assert more[:6] == [u.key for u in units]
    assert all(u.parent is None and not u.fields for u in units)


def test_self_instruct_without_seeds_says_what_to_do() -> None:
    with pytest.raises(SynthloopError, match="source is empty"):
        list(make("self_instruct").units([]))


def test_edge_cases_taxonomy_without_a_source_makes_one_pass() -> None:
    task = make("edge_cases", {"per_category": 2})
    units = list(task.units([]))
    assert len(units) == 8 * 2
    assert {u.fields["category"] for u in units} >= {"self_harm", "privacy", "ambiguous"}
    assert all(u.parent is None for u in units)
    assert "<example>" not in user_message(units[0])
    with_source = list(task.units(ITEMS[:1]))
    assert {u.parent for u in with_source} == {ITEMS[0].id}
    assert "How do I cook rice?" in user_message(with_source[0])


def test_edge_cases_injection_needs_seed_prompts() -> None:
    task = make("edge_cases", {"mode": "injection"})
    units = list(task.units(ITEMS[:1]))
    assert [u.fields["style"] for u in units] == [
        "ignore_previous",
        "role_play",
        "hidden_instruction",
        "encoded",
    ]
    assert all(u.fields["original"] == "How do I cook rice?" for u in units)
    with pytest.raises(SynthloopError, match="mode: taxonomy"):
        list(task.units([]))


def test_evolve_and_translate_make_one_unit_per_method_or_language() -> None:
    evolve = list(make("evolve").units(ITEMS[:1]))
    assert [u.fields["method"] for u in evolve] == ["deepen", "broaden", "constraints"]
    assert all(u.fields["original"] == "Explain why the sky is blue." for u in evolve)
    translate = list(make("translate").units(ITEMS[:1]))
    assert [u.fields["language"] for u in translate] == ["de", "fr"]
    assert all(u.parent == ITEMS[0].id for u in evolve + translate)


# ------------------------------------------------------------------ rendered prompts


def test_rendered_prompts_hold_their_inputs() -> None:
    qa = next(make("qa_from_documents").units(ITEMS))
    assert "Tides rise twice a day." in user_message(qa)
    assert '"seeds.jsonl line 1"' in user_message(qa)

    evolve = next(make("evolve", {"methods": ["constraints"]}).units(ITEMS))
    assert "Explain why the sky is blue." in user_message(evolve)
    assert "Method: constraints. Add one or two concrete constraints" in user_message(evolve)

    dialogue = next(make("dialogue", {"turns": 3}).units(ITEMS))
    text = user_message(dialogue)
    assert "exactly 3 exchanges (6 messages)" in text
    assert "a night-shift nurse" in text
    assert "plan a cheap weekend trip" in text

    taxonomy = next(make("edge_cases", {"domain": "a bank's support chat"}).units(ITEMS))
    assert 'risk category "self_harm"' in user_message(taxonomy)
    assert "a bank's support chat" in user_message(taxonomy)

    injection = next(make("edge_cases", {"mode": "injection"}).units(ITEMS))
    assert "ignore or override its previous instructions" in user_message(injection)
    assert "How do I cook rice?" in user_message(injection)

    translate = next(make("translate", {"languages": ["pt-BR"]}).units(ITEMS))
    assert 'into the language "pt-BR"' in user_message(translate)
    assert "The Moon's gravity pulls the oceans." in user_message(translate)
    assert translate.requests[0].schema is None


def test_judge_prompt_lists_the_rubric_and_scale() -> None:
    rubric = [
        {"name": "accuracy", "description": "facts are right"},
        {"name": "tone", "description": "polite and plain"},
    ]
    unit = next(make("judge", {"rubric": rubric, "scale": [0, 10]}).units(ITEMS))
    text = user_message(unit)
    assert "How do I cook rice?" in text
    assert "Boil one cup of rice" in text
    assert "- accuracy: facts are right" in text
    assert "- tone: polite and plain" in text
    assert "from 0 (worst) to 10 (best)" in text
    assert '{"scores": {"accuracy": <0-10>, "tone": <0-10>}' in text
    assert "impartial" in system_message(unit)


def test_prelabel_prompt_shows_fields_questions_and_guidelines() -> None:
    unit = next(make("prelabel").units(ITEMS))
    text = user_message(unit)
    assert "Label the topic of the prompt." in text
    assert "<prompt> (Prompt)\nHow do I cook rice?\n</prompt>" in text
    assert "<response>\nBoil one cup" in text
    assert "meta" not in text  # a json field is not shown by default
    assert "Pick exactly one of: food, pets, history." in text
    assert "from: short, polite, wrong." in text
    assert "Pick one rating from: 1, 2, 3, 4, 5." in text
    assert "`fix`" not in text  # text questions are not pre-labelled
    only = next(make("prelabel", {"questions": ["quality"], "fields": ["response"]}).units(ITEMS))
    assert "`topic`" not in user_message(only)
    assert "<prompt>" not in user_message(only)


# ------------------------------------------------------------------ answers, parse and build


@pytest.mark.parametrize("name", sorted(set(CASES) - {"dialogue"}))
def test_fake_answers_build_the_documented_fields(name: str) -> None:
    task = make(name)
    for unit in list(task.units(ITEMS))[:3]:
        outputs, built = answer(task, unit)
        assert {k: type(v) for k, v in built.items()} == BUILT[name]
        if task.kind == "records":
            assert (task.schema() is None) == (outputs[0].value is None)
            _check_record(task, unit, built)
        else:
            _check_suggestions(unit, built)


def _check_record(task: Task, unit: Unit, built: dict[str, Any]) -> None:
    """The record fits the settings the task creates its dataset with; a failed unit's
    record (its unit.fields only) does too."""
    settings = Settings.parse(task.settings())
    record = {**unit.fields, **built}
    assert {f.name for f in settings.fields} == set(record)
    for name, value in record.items():
        assert settings.field(name).check(value) is None, name
    for name in built:
        if name not in unit.fields:
            assert not settings.field(name).required, f"{name} must not be required"
    assert all(f.name in unit.fields for f in settings.fields if f.required)


def _check_suggestions(unit: Unit, built: dict[str, Any]) -> None:
    assert unit.key in [item.id for item in ITEMS]
    for name, suggestion in built.items():
        assert set(suggestion) == {"value", "score", "rationale"}
        assert TARGET.question(name).check(suggestion["value"], {}) is None
        assert 0.0 <= suggestion["score"] <= 1.0


def test_dialogue_builds_a_chat_field_from_an_alternating_conversation() -> None:
    task = make("dialogue", {"turns": 2})
    unit = next(task.units(ITEMS))
    completion = asyncio.run(FakeBackend().complete(unit.requests[0]))
    # The fake follows `items` but not `prefixItems`: it gets the length right and picks each
    # role at random, so put the roles in order before parsing.
    messages = json.loads(completion.text)["messages"]
    assert len(messages) == 4
    assert all(
        m["role"] in ("user", "assistant") and isinstance(m["content"], str) for m in messages
    )
    for i, message in enumerate(messages):
        message["role"] = ("user", "assistant")[i % 2]
    value = task.parse(json.dumps({"messages": messages}))
    built = task.build(unit, [Output(completion, value)])
    assert built == {"chat": messages}
    _check_record(task, unit, built)
    schema = task.schema()["properties"]["messages"]
    assert schema["minItems"] == schema["maxItems"] == 4
    assert [p["properties"]["role"]["const"] for p in schema["prefixItems"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]


def _chat(*roles: str) -> str:
    return json.dumps({"messages": [{"role": r, "content": "hi"} for r in roles]})


@pytest.mark.parametrize(
    ("name", "options", "text", "message"),
    [
        ("qa_from_documents", None, '{"question": "Why?"}', r"answer"),
        ("qa_from_documents", None, "not json", r"Invalid JSON"),
        ("self_instruct", None, '{"input": "x"}', r"instruction"),
        ("evolve", None, '{"instruction": 3}', r"string"),
        ("edge_cases", None, '{"prompt": "p"}', r"expected_behaviour"),
        ("edge_cases", {"mode": "injection"}, '{"text": "p"}', r"prompt"),
        ("dialogue", {"turns": 1}, _chat("user"), r"has 1 messages; it must have exactly 2"),
        (
            "dialogue",
            {"turns": 2},
            _chat("user", "user", "assistant", "assistant"),
            r"message 2 has role 'user' but must be 'assistant'",
        ),
        ("dialogue", {"turns": 1}, _chat("assistant", "user"), r"starting with 'user'"),
        ("dialogue", {"turns": 1}, _chat("user", "system"), r"'user' or 'assistant'"),
        ("judge", None, '{"scores": {}, "rationale": "r"}', r"scores has no 'quality'"),
        (
            "judge",
            None,
            '{"scores": {"quality": 9}, "rationale": "r"}',
            r"score 9 for 'quality' is outside 1\.\.5",
        ),
        (
            "judge",
            None,
            '{"scores": {"quality": 3, "tone": 2}, "rationale": "r"}',
            r"'tone', which the rubric does not name",
        ),
        ("judge", None, '{"scores": {"quality": 3}}', r"rationale"),
        (
            "prelabel",
            {"questions": ["topic"]},
            '{"topic": {"value": "cars", "confidence": 0.5}}',
            r"'food', 'pets' or 'history'",
        ),
        (
            "prelabel",
            {"questions": ["quality"]},
            '{"quality": {"value": 4, "confidence": 1.5}}',
            r"less than or equal to 1",
        ),
        (
            "prelabel",
            {"questions": ["tags"]},
            '{"tags": {"value": ["short", "short"], "confidence": 0.5}}',
            r"question 'tags': labels .* repeat a label",
        ),
        (
            "prelabel",
            {"questions": ["topic"]},
            '{"quality": {"value": 4, "confidence": 1}}',
            r"topic",
        ),
    ],
)
def test_parse_rejects_bad_answers_saying_what_is_wrong(
    name: str, options: dict[str, Any] | None, text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make(name, options).parse(text)


def test_judge_scales_scores_and_shares_the_rationale() -> None:
    rubric = [{"name": "quality"}, {"name": "accuracy"}]
    task = make("judge", {"rubric": rubric, "scale": [0, 10]})
    unit = next(task.units(ITEMS))
    text = '{"scores": {"quality": 10, "accuracy": 3}, "rationale": "mostly right"}'
    built = task.build(
        unit, [Output(asyncio.run(FakeBackend().complete(unit.requests[0])), task.parse(text))]
    )
    assert built == {
        "quality": {"value": 10, "score": 1.0, "rationale": "mostly right"},
        "accuracy": {"value": 3, "score": 0.3, "rationale": "mostly right"},
    }
    schema = task.schema()["properties"]["scores"]
    assert schema["required"] == ["quality", "accuracy"]
    assert schema["properties"]["accuracy"] == {"type": "integer", "minimum": 0, "maximum": 10}


def test_prelabel_needs_the_target_dataset() -> None:
    with pytest.raises(SynthloopError, match=r"dataset does not exist yet.*datasets create"):
        get_task("prelabel")({})
    with pytest.raises(SynthloopError, match=r"'fix', which is not a label.*topic, tags, quality"):
        make("prelabel", {"questions": ["fix"]})
    with pytest.raises(SynthloopError, match=r"'body', which is not a field"):
        make("prelabel", {"fields": ["body"]})
    text_only = {"fields": [{"name": "text", "type": "text"}], "questions": []}
    with pytest.raises(SynthloopError, match="no label, multi_label or rating question"):
        get_task("prelabel")({}, settings=text_only)


def test_prelabel_schema_constrains_each_answer() -> None:
    schema = make("prelabel").schema()
    assert "$defs" not in json.dumps(schema)
    props = schema["properties"]
    assert props["topic"]["properties"]["value"]["enum"] == ["food", "pets", "history"]
    assert props["tags"]["properties"]["value"]["items"]["enum"] == ["short", "polite", "wrong"]
    assert props["quality"]["properties"]["value"]["enum"] == [1, 2, 3, 4, 5]
    assert props["quality"]["properties"]["confidence"]["maximum"] == 1.0


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("name", "options"),
    [
        *((name, options) for name, (options, _) in CASES.items()),
        *((name, other) for name, (_, other) in CASES.items()),
        ("edge_cases", {"mode": "injection"}),
    ],
)
def test_settings_are_valid_dataset_settings(name: str, options: dict[str, Any]) -> None:
    settings = Settings.parse(make(name, options).settings())
    assert settings.fields


def test_judge_settings_ask_one_rating_per_criterion() -> None:
    task = make("judge", {"rubric": [{"name": "tone", "description": "polite"}], "scale": [1, 3]})
    settings = Settings.parse(task.settings())
    assert settings.to_dict()["questions"] == [
        {
            "name": "tone",
            "description": "polite",
            "required": True,
            "type": "rating",
            "values": [1, 2, 3],
        }
    ]


# ------------------------------------------------------------------ templates


def _shipped_templates() -> list[str]:
    folder = resources.files("synthloop.generate.tasks").joinpath("templates")
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".j2"))


RENDER_OPTIONS: dict[str, list[dict[str, Any]]] = {
    "edge_cases": [
        {"per_category": 1},
        {"per_category": 1, "domain": "retail"},
        {"mode": "injection"},
        {"mode": "injection", "domain": "retail"},
    ],
    "evolve": [{"methods": ["deepen", "broaden", "constraints", "concretize", "reasoning"]}],
    "responses": [{}, {"system": "Be brief."}],
}


@pytest.mark.parametrize("filename", _shipped_templates())
def test_every_shipped_template_renders_for_its_task(filename: str) -> None:
    name = filename.split(".")[0]
    assert name in task_names(), f"{filename} belongs to no task"
    (task_cls,) = [get_task(n) for n in task_names() if get_task(n).template == name]
    version = int(filename.split(".")[1].removeprefix("v"))
    for options in RENDER_OPTIONS.get(name, [CASES[task_cls.name][0]]):
        task = task_cls(options, settings=TARGET, template_version=version)
        for unit in task.units(ITEMS):
            for request in unit.requests:
                assert all(m["content"].strip() for m in request.messages)
                assert "{{" not in request.prompt_text()
                assert "{%" not in request.prompt_text()


# ------------------------------------------------------------------ documents


def test_read_folder_reads_text_markdown_and_html(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("Plain text.\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.md").write_text("# Title\n\nSome *markdown*.", encoding="utf-8")
    (tmp_path / "sub" / "page.html").write_text(
        "<html><head><title>T</title><style>p {color: red}</style>"
        "<script>alert('x')</script></head><body><h1>Heading</h1>"
        "<p>First   paragraph &amp; more.</p><p>Second<br>line</p></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "description.txt").write_text("not a document", encoding="utf-8")
    items = list(read_folder(tmp_path))
    assert [i.id for i in items] == ["b.txt", "sub/a.md", "sub/page.html"]
    assert items[0].fields == {"text": "Plain text.\n", "path": "b.txt", "format": "txt"}
    assert items[1].fields["format"] == "md"
    assert items[1].fields["text"] == "# Title\n\nSome *markdown*."
    html = items[2].fields
    assert html["format"] == "html"
    assert html["text"] == "T\n\nHeading\n\nFirst paragraph & more.\n\nSecond\n\nline"
    assert "alert" not in html["text"]
    assert "color" not in html["text"]


def test_read_folder_names_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("fine", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    items = read_folder(tmp_path)
    assert next(items).id == "good.txt"
    with pytest.raises(SynthloopError, match=r"'latin1.txt'.*not UTF-8.*convert it to UTF-8"):
        next(items)


def test_read_folder_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SynthloopError, match="does not exist"):
        list(read_folder(tmp_path / "nope"))


def test_qa_from_documents_reads_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("Rivers flow to the sea.", encoding="utf-8")
    task = make("qa_from_documents")
    (unit,) = task.units(read_folder(tmp_path))
    assert unit.parent == "a.md#0"
    assert unit.fields == {"context": "Rivers flow to the sea.", "document": "a.md"}


def test_chunks_keep_paragraphs_whole_when_they_fit() -> None:
    paragraphs = [f"Paragraph {i} says something." for i in range(5)]  # 27-28 chars each
    text = "\n\n".join(paragraphs)
    assert chunks(text, 1000, 100) == [text]
    parts = chunks(text, 70, 0)
    assert parts == ["\n\n".join(paragraphs[0:2]), "\n\n".join(paragraphs[2:4]), paragraphs[4]]


def test_chunks_overlap_starts_at_a_word_and_stays_within_size() -> None:
    text = "\n\n".join(f"Sentence number {i} is here." for i in range(20))
    parts = chunks(text, 120, 30)
    assert len(parts) > 3
    assert all(len(p) <= 120 for p in parts)
    for before, after in itertools.pairwise(parts):
        head = after.split("\n\n")[0]
        assert before.endswith(head)  # the overlap repeats the previous chunk's end
        assert 0 < len(head) <= 30
        assert before[-len(head) - 1].isspace()  # ...starting at a word
    joined = " ".join(parts)
    assert all(f"Sentence number {i} is here." in joined for i in range(20))


def test_chunks_cut_long_paragraphs_between_words_and_long_words_anywhere() -> None:
    text = " ".join(["word"] * 50) + "\n\n" + "x" * 95
    parts = chunks(text, 40, 0)
    assert all(len(p) <= 40 for p in parts)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)
    assert "".join(p for p in parts if p.startswith("x")) == "x" * 95
    assert " ".join(p for p in parts if p.startswith("w")).split() == ["word"] * 50


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_chunks_refuse_an_overlap_as_large_as_the_chunk(size: int, overlap: int) -> None:
    with pytest.raises(SynthloopError, match="0 <= overlap < size"):
        chunks("text", size, overlap)


def test_chunks_of_empty_text() -> None:
    assert chunks("", 100, 10) == []
    assert chunks("  \n\n  ", 100, 10) == []


# ------------------------------------------------------------------ docs


DOCS = (Path(__file__).resolve().parents[2] / "docs" / "tasks.md").read_text(encoding="utf-8")


def _doc_section(name: str) -> str:
    match = re.search(rf"^## `{name}`\n(.*?)(?=^## |\Z)", DOCS, re.MULTILINE | re.DOTALL)
    assert match, f"docs/tasks.md has no section for task {name!r}"
    return match.group(1)


@pytest.mark.parametrize("name", task_names())
def test_every_task_and_option_is_documented(name: str) -> None:
    section = _doc_section(name)
    for option in get_task(name).options.model_fields:
        assert re.search(rf"^\| `{option}` \|", section, re.MULTILINE), f"{name}: {option}"
    assert f"[`{name}`](#{name})" in DOCS


@pytest.mark.parametrize("name", task_names())
def test_documented_recipes_are_valid(name: str) -> None:
    snippets = re.findall(r"^```yaml\n(.*?)^```", _doc_section(name), re.MULTILINE | re.DOTALL)
    assert snippets, f"docs/tasks.md shows no recipe for {name!r}"
    for snippet in snippets:
        recipe = yaml.safe_load(snippet)
        assert {"dataset", "task", "backend"} <= set(recipe)
        assert recipe["task"] == name
        get_task(name).options(**recipe.get("options", {}))
