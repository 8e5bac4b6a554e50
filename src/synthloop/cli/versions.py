"""`synthloop version|versions|diff NAME` and `synthloop export NAME --version V --format F`:
frozen versions of a dataset's accepted records, and training sets made from them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from synthloop.cli._common import Db, Json, open_or_fail, out, print_json, user_errors
from synthloop.export.training import export_version
from synthloop.export.versions import (
    SOURCE_KINDS,
    Version,
    create_version,
    diff_versions,
    list_versions,
)

__all__ = ["diff", "export_training", "version", "versions"]

Name = Annotated[str, typer.Argument(metavar="NAME", help="Dataset.")]


def version(
    name: Name,
    tag: Annotated[
        str | None, typer.Option(help="A name for the version, unique in the dataset.")
    ] = None,
    round: Annotated[int, typer.Option("--round", help="The loop round it closes.")] = 0,
    aggregation: Annotated[
        str, typer.Option(help="The aggregation method that decided the final values.")
    ] = "dawid-skene",
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Freeze the accepted records into an immutable, content-hashed version.

    When nothing changed since the latest version, that version is returned instead.
    """
    with open_or_fail(db, as_json) as store, user_errors(as_json):
        found = create_version(store, name, tag=tag, round=round, aggregation=aggregation)
    if as_json:
        print_json(found.to_dict())
        return
    verb = "unchanged since" if found.reused else "created"
    tagged = f" ({found.tag})" if found.tag else ""
    out.print(
        f"{name}: {verb} version {found.number}{tagged}, {found.record_count:,} records, "
        f"sha256 {found.content_hash[:16]}",
        markup=False,
    )
    if found.reused and tag is not None and found.tag != tag:
        out.print(f"tag {tag!r} not applied: the version is already tagged", markup=False)
    out.print(_sources(found), markup=False)


def versions(name: Name, db: Db = None, as_json: Json = False) -> None:
    """List the dataset's versions, oldest first."""
    with open_or_fail(db, as_json) as store, user_errors(as_json):
        found = list_versions(store, name)
    if as_json:
        print_json([v.to_dict() for v in found])
        return
    table = Table(title=f"{name}: versions", title_justify="left")
    for column in ("version", "tag", "records", *SOURCE_KINDS, "round", "sha256", "created"):
        table.add_column(column)
    for v in found:
        created = v.created_at.strftime("%Y-%m-%d %H:%M") if v.created_at else ""
        table.add_row(
            str(v.number),
            v.tag or "",
            f"{v.record_count:,}",
            *(f"{v.counts_by_source.get(kind, 0):,}" for kind in SOURCE_KINDS),
            str(v.round),
            v.content_hash[:16],
            created,
        )
    out.print(table)


def diff(
    name: Name,
    v1: Annotated[str, typer.Argument(metavar="V1", help="Older version (number or tag).")],
    v2: Annotated[str, typer.Argument(metavar="V2", help="Newer version (number or tag).")],
    examples: Annotated[int, typer.Option(help="Record ids to show per kind of change.")] = 5,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Records added, removed and changed (by external id) from version V1 to V2."""
    with open_or_fail(db, as_json) as store, user_errors(as_json):
        found = diff_versions(store, name, v1, v2).to_dict(examples)
    if as_json:
        print_json(found)
        return
    out.print(f"{name}: version {found['a']} -> {found['b']}", markup=False)
    for kind, count in found["counts"].items():
        shown = found["examples"].get(kind, [])
        ids = [e["id"] + f" ({', '.join(e['parts'])})" if isinstance(e, dict) else e for e in shown]
        more = f": {', '.join(ids)}" + (" ..." if count > len(ids) else "") if ids else ""
        out.print(f"  {kind}: {count:,}{more}", markup=False)


def export_training(
    name: Name,
    version: Annotated[str, typer.Option("--version", help="Version number or tag.")],
    format: Annotated[
        str, typer.Option("--format", help="sft, dpo, reward, kto or classification.")
    ],
    out_path: Annotated[Path, typer.Option("--out", help="Folder to write (new or empty).")],
    test_size: Annotated[float, typer.Option(help="Share of records in the test split.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the train/test split.")] = 0,
    file_format: Annotated[
        str, typer.Option("--file-format", help="jsonl, parquet or datasets (save_to_disk).")
    ] = "jsonl",
    prompt_field: Annotated[
        str | None,
        typer.Option(
            help="Field used as the prompt. Default: the first text field not pre-filled."
        ),
    ] = None,
    response_field: Annotated[
        str | None,
        typer.Option(
            help="Field used as the response. Default: the one a text question pre-fills."
        ),
    ] = None,
    ranking_pairs: Annotated[
        str, typer.Option(help="DPO pairs from rankings: best-vs-each or best-vs-worst.")
    ] = "best-vs-each",
    licence: Annotated[str, typer.Option(help="Licence named in the dataset card.")] = (
        "unspecified"
    ),
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Export a version as a training set (train/test files and a README.md dataset card)."""
    with open_or_fail(db, as_json) as store, user_errors(as_json):
        report = export_version(
            store,
            name,
            version,
            format,
            out_path,
            test_size=test_size,
            seed=seed,
            file_format=file_format,
            prompt_field=prompt_field,
            response_field=response_field,
            ranking_pairs=ranking_pairs,
            licence=licence,
        )
    if as_json:
        print_json(report.to_dict())
        return
    rows = ", ".join(f"{split} {n:,}" for split, n in report.rows.items())
    out.print(
        f"{name} version {report.version}: {report.format} rows {rows} from {report.records:,} "
        f"records, to {out_path}",
        markup=False,
    )
    for why, n in report.skipped.items():
        out.print(f"  skipped {n:,}: {why}", markup=False)


def _sources(found: Version) -> str:
    return ", ".join(f"{kind} {found.counts_by_source.get(kind, 0):,}" for kind in SOURCE_KINDS)
