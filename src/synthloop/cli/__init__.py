"""The `synthloop` command: a thin shell over the Python API.

Each command parses its input, calls the library and formats the answer. Exit codes: 0 ok,
1 user error (the message names the value, the rule and the fix), 2 usage.
"""

from __future__ import annotations

import typer

from synthloop.cli import (
    accounts,
    audit,
    backup,
    curate,
    dataset_quality,
    generate,
    loop,
    queue,
    records,
    route,
    serve,
    versions,
)
from synthloop.cli._common import CONTEXT, new_app
from synthloop.cli.quality import quality_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="synthloop",
    help="Training data from synthetic generation and human annotation.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings=CONTEXT,
    add_completion=False,
)
app.command()(records.init)
app.command("import")(records.import_)
app.command()(records.export)
app.command()(records.status)
app.command()(generate.generate)
app.command()(curate.curate)
app.command()(route.route)
app.command()(loop.loop)
app.command()(versions.version)
app.command()(versions.versions)
app.command()(versions.diff)
app.command()(audit.audit)
app.command()(backup.backup)
app.command()(backup.restore)
app.command()(records.demo)
app.command()(dataset_quality.agreement)
app.command()(dataset_quality.aggregate)
app.command()(dataset_quality.annotators)
app.command()(queue.queue)
app.command()(serve.serve)

datasets_app = new_app("Create and list datasets, and assign users to them.")
datasets_app.command("create")(records.datasets_create)
datasets_app.command("list")(records.datasets_list)
datasets_app.command("assign")(accounts.datasets_assign)
app.add_typer(datasets_app, name="datasets")
users_app = new_app("Add users and give them API tokens.")
users_app.command("add")(accounts.users_add)
users_app.command("token")(accounts.users_token)
app.add_typer(users_app, name="users")
app.add_typer(quality_app, name="quality")


def main() -> None:
    app()
