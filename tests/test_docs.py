"""Docs that cannot drift: the CLI reference is generated, and every setting is documented."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from synthloop import _clidocs
from synthloop.settings import Distribution, FieldSpec, Question, Settings

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")


def test_cli_reference_is_current() -> None:
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == _clidocs.render(), "docs/cli.md is stale: run `make docs`"


def _union_types(annotated: object) -> list[str]:
    union = typing.get_args(annotated)[0]
    return [m.model_fields["type"].default for m in typing.get_args(union)]


@pytest.mark.parametrize(
    "name",
    [*_union_types(FieldSpec), *_union_types(Question)],
)
def test_every_field_and_question_type_is_documented(name: str) -> None:
    assert re.search(rf"^\| `{name}` \|", GUIDE, re.MULTILINE), f"type {name!r} not in guide"


@pytest.mark.parametrize("key", [*Settings.model_fields, *Distribution.model_fields])
def test_every_setting_is_documented(key: str) -> None:
    assert re.search(rf"^\| `{key}` \|", GUIDE, re.MULTILINE), f"setting {key!r} not in guide"


def test_readme_first_screen_shows_the_two_commands() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:24])
    assert "make demo" in first_screen
    assert "make test" in first_screen
