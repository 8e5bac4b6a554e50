"""Renders docs/cli.md from the CLI's own `--help` text, so the reference cannot drift.

    python -m synthloop._clidocs > docs/cli.md        (what `make docs` runs)

tests/test_docs.py fails when docs/cli.md differs from what this renders.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from synthloop.cli import app

HEADER = """\
# CLI reference

Generated from `synthloop --help` by `make docs`; a test fails when this file is stale.
Every command takes `--db` (or `$SYNTHLOOP_DB`) and `--json`. Exit codes: 0 ok, 1 user error
(the message names the value, the rule and the fix), 2 usage.
"""


def _walk(command: Any, parent: Any, name: str) -> Iterator[tuple[str, str]]:
    # make_context applies the command's context_settings (help names, fixed width).
    ctx = command.make_context(name, [], parent=parent, resilient_parsing=True)
    yield ctx.command_path, command.get_help(ctx)
    if hasattr(command, "list_commands"):  # a group (typer may vendor its own click)
        for sub in command.list_commands(ctx):
            child = command.get_command(ctx, sub)
            if child is not None and not child.hidden:
                yield from _walk(child, ctx, sub)


def render() -> str:
    sections = [HEADER]
    for path, text in _walk(typer.main.get_command(app), None, "synthloop"):
        sections.append(f"## `{path}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(sections)


if __name__ == "__main__":
    print(render(), end="")
