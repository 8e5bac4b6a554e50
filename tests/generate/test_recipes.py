"""Recipes: the issue's example runs as written against a real chat-completions server, and a
recipe with mistakes is refused before anything is sent or stored, every mistake at once, each
named with its YAML line.

The only stand-in is the LLM: the local ChatServer (a real aiohttp server on a thread).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import synthloop
from helpers import run_cli, write_jsonl
from synthloop.errors import SynthloopError
from synthloop.generate.llm.testing import ChatServer
from synthloop.generate.pipeline import generate
from synthloop.generate.recipe import Recipe, RecipeError

# The issue's example, as written; only base_url is pointed at the test server.
EXAMPLE = """\
dataset: replies
task: responses
source: {{file: prompts.jsonl, field: prompt}}
backend: {{type: openai, base_url: "{base_url}", model: any-model,
          max_concurrency: 50}}
n: 1
params: {{temperature: 0.7, max_tokens: 256}}
"""

PROMPTS = [f"How do I do thing {i}?" for i in range(12)]


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as started:
        yield started


def recipe_file(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def prompts_file(folder: Path, prompts: list[str] = PROMPTS) -> Path:
    return write_jsonl(folder / "prompts.jsonl", [{"prompt": p} for p in prompts])


def refused(store: synthloop.Store, path: Path) -> SynthloopError:
    """The error `generate` raises for the recipe at `path`; nothing was created."""
    with pytest.raises(SynthloopError) as caught:
        generate(store, Recipe.load(path))
    assert store.datasets() == []
    return caught.value


# ---------------------------------------------------------------- the issue's example


def test_the_issue_example_runs_as_written(
    store: synthloop.Store, server: ChatServer, tmp_path: Path
) -> None:
    prompts_file(tmp_path)
    recipe = Recipe.load(recipe_file(tmp_path, EXAMPLE.format(base_url=server.base_url)))
    assert (recipe.backend.max_concurrency, recipe.n) == (50, 1)

    report = generate(store, recipe)

    assert (report.units, report.ok, dict(report.failed)) == (12, 12, {})
    assert report.requests_sent == len(server.log) == 12
    dataset = store.dataset("replies")
    records = list(dataset.records())
    assert dataset.count(by="status") == {"pending": 12}
    assert len({r.external_id for r in records}) == 12
    by_parent = {r.provenance["parent"]: r for r in records}
    assert sorted(by_parent) == sorted(f"prompts.jsonl line {k}" for k in range(1, 13))
    for k, prompt in enumerate(PROMPTS, 1):
        record = by_parent[f"prompts.jsonl line {k}"]
        assert set(record.fields) == {"prompt", "response"}
        assert record.fields["prompt"] == prompt
        assert record.fields["response"] == f"reply to: {prompt}"
        prov = record.provenance
        assert prov["task"] == "responses"
        assert prov["template"] == "responses.v1"
        assert (prov["backend"], prov["model"]) == ("openai", "any-model")
        assert prov["params"] == {"temperature": 0.7, "max_tokens": 256}
        assert prov["cost"] == 0.0  # no price for the model in the recipe
        assert prov["prompt_tokens"] > 0
        assert prov["completion_tokens"] > 0
    assert report.tokens == sum(
        r.provenance["prompt_tokens"] + r.provenance["completion_tokens"] for r in records
    )


# ---------------------------------------------------------------- validation

MANY_MISTAKES = """\
dataset: replies
task: responses
backend: {type: openai, base_url: "http://127.0.0.1:9/v1", model: m, max_concurrency: 0}
n: 40
params:
  temperature: 7
retries: {reasks: -1, bogus: 2}
"""


def test_every_mistake_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as caught:
        Recipe.load(recipe_file(tmp_path, MANY_MISTAKES))
    where = [p.where for p in caught.value.problems]
    assert where == [
        "backend.max_concurrency (line 3)",
        "n (line 4)",
        "params.temperature (line 6)",
        "retries.reasks (line 7)",
        "retries.bogus (line 7)",
    ]
    message = str(caught.value)
    assert "5 problems" in message
    assert "recipe.yaml" in message
    assert "greater than or equal to 1 (got 0)" in message


@pytest.mark.slow
def test_the_cli_exits_1_naming_every_line(tmp_path: Path) -> None:
    path = recipe_file(tmp_path, MANY_MISTAKES)
    db = str(tmp_path / "cli.db")
    result = run_cli("generate", str(path), "--db", db)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    for line in ("line 3", "line 4", "line 6", "line 7"):
        assert line in result.stderr
    assert "5 problems" in result.stderr
    with synthloop.open(db) as store:
        assert store.datasets() == []


def test_an_unknown_backend_option_names_the_options_it_takes(
    sqlite_store: synthloop.Store, tmp_path: Path
) -> None:
    path = recipe_file(
        tmp_path,
        "dataset: replies\ntask: responses\nsource: {items: [{prompt: hi}]}\n"
        'backend: {type: openai, base_url: "http://127.0.0.1:9/v1", model: m, colour: red}\n',
    )
    error = refused(sqlite_store, path)
    assert isinstance(error, RecipeError)
    assert [p.where for p in error.problems] == ["backend.colour (line 4)"]
    assert "takes no option 'colour'" in str(error)
    assert "base_url, model, api_key_env, timeout, max_concurrency" in str(error)


def test_an_unknown_task_names_the_known_ones(
    sqlite_store: synthloop.Store, tmp_path: Path
) -> None:
    path = recipe_file(tmp_path, "dataset: replies\ntask: respones\nbackend: {type: fake}\n")
    message = str(refused(sqlite_store, path))
    assert "'respones' is not known" in message
    assert "responses" in message
    assert "`task:`" in message


def test_task_option_errors_are_all_reported(sqlite_store: synthloop.Store, tmp_path: Path) -> None:
    path = recipe_file(
        tmp_path,
        "dataset: replies\ntask: responses\nsource: {items: [{prompt: hi}]}\n"
        "backend: {type: fake}\noptions:\n  n: 0\n  colour: red\n",
    )
    error = refused(sqlite_store, path)
    assert isinstance(error, RecipeError)
    assert [_key(p.where) for p in error.problems] == ["options.n", "options.colour"]
    assert "greater than or equal to 1" in str(error)
    assert "Extra inputs are not permitted" in str(error)


def test_n_for_a_task_without_n(sqlite_store: synthloop.Store, tmp_path: Path) -> None:
    path = recipe_file(
        tmp_path,
        "dataset: fr\ntask: translate\nn: 2\nsource: {items: [{text: hi}]}\n"
        "backend: {type: fake}\noptions: {languages: [fr]}\n",
    )
    error = refused(sqlite_store, path)
    assert "n (line 3): task 'translate' makes one output per input; remove n" in str(error)


def test_source_rows_without_the_field_are_named_by_line(
    sqlite_store: synthloop.Store, tmp_path: Path
) -> None:
    write_jsonl(
        tmp_path / "prompts.jsonl",
        [{"prompt": "fine"}, {"text": "no prompt"}, {"prompt": 3}, {"prompt": "fine too"}],
    )
    path = recipe_file(
        tmp_path,
        "dataset: replies\ntask: responses\nsource: {file: prompts.jsonl, field: prompt}\n"
        "backend: {type: fake}\n",
    )
    error = refused(sqlite_store, path)
    assert isinstance(error, RecipeError)
    assert [p.where for p in error.problems] == ["prompts.jsonl line 2", "prompts.jsonl line 3"]
    assert "field 'prompt' must hold the input text; got None" in str(error)


def test_a_missing_source_file(sqlite_store: synthloop.Store, tmp_path: Path) -> None:
    path = recipe_file(
        tmp_path,
        "dataset: replies\ntask: responses\nsource: {file: nowhere.jsonl, field: prompt}\n"
        "backend: {type: fake}\n",
    )
    error = refused(sqlite_store, path)
    assert isinstance(error, RecipeError)
    assert [p.where for p in error.problems] == ["source.file (line 3)"]
    assert "nowhere.jsonl" in str(error)
    assert "no such file" in str(error)


def test_setup_problems_name_their_yaml_line(sqlite_store: synthloop.Store, tmp_path: Path) -> None:
    path = recipe_file(
        tmp_path,
        "dataset: replies\ntask: responses\nsource: {items: [{prompt: hi}]}\n"
        "backend: {type: fake}\noptions:\n  n: 0\n",
    )
    error = refused(sqlite_store, path)
    assert "options.n (line 6)" in str(error)
    assert "recipe.yaml" in str(error)


def test_setup_problems_are_reported_together(
    sqlite_store: synthloop.Store, tmp_path: Path
) -> None:
    path = recipe_file(
        tmp_path,
        "dataset: fr\ntask: translate\nn: 2\nsource: {file: nowhere.jsonl}\n"
        'backend: {type: openai, base_url: "http://127.0.0.1:9/v1", model: m, colour: red}\n'
        "options: {languages: [], tone: dry}\n",
    )
    error = refused(sqlite_store, path)
    assert isinstance(error, RecipeError)
    where = {_key(p.where) for p in error.problems}
    assert {"backend.colour", "n", "options.tone", "source.file"} <= where


def _key(where: str) -> str:
    """A problem's recipe key without its line: "options.n (line 6)" -> "options.n"."""
    return where.split(" (line ")[0]
