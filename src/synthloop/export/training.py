"""Training sets from a version, in the shapes TRL's trainers read.

Columns follow TRL's dataset formats (huggingface.co/docs/trl/dataset_formats):

- `sft`: conversational language modelling, `messages`. A chat prompt field is used as is
  (followed by the response as the assistant's turn when there is a response field); otherwise
  the prompt field is the user's turn and the response the assistant's, a human correction
  replacing the response when there is one.
- `dpo`: conversational preference, `prompt` / `chosen` / `rejected`. Pairs come from human
  corrections (the edit chosen, the original rejected), and from ranking questions whose options
  name text fields: best against each worse option (`ranking_pairs="best-vs-each"`, the
  default: every preference the ranking states about the best) or best against the worst only
  (`"best-vs-worst"`: one pair per ranking, the clearest). A pairwise A/B question is a ranking
  of two options: one pair either way.
- `kto`: conversational unpaired preference, `prompt` / `completion` / `label`. A corrected
  record gives its original (False) and its correction (True); otherwise the rating question's
  final value at or above the scale's midpoint is True; with no rating, an accepted response is
  True.
- `reward`: `prompt` / `response` / `score` (the rating normalised to 0..1) / `raw_score`:
  pointwise scores as the issue asks, not a TRL format (TRL's RewardTrainer reads preference
  pairs: use `dpo` for it).
- `classification`: `text` / `label` / `confidence` from a label question's final value.

A record yielding no row is counted under its reason. The train/test split is seeded and
stratified (by label for classification, by source otherwise) and keeps a record's rows
together, so no prompt is in both. Files are written to a folder beside the target and renamed
into place: a failed export leaves nothing behind.
"""

from __future__ import annotations

import math
import os
import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from synthloop.errors import SynthloopError
from synthloop.export.card import write_card
from synthloop.export.versions import (
    Version,
    corrections,
    get_version,
    source_kind,
    version_records,
    version_settings,
)
from synthloop.records import Record
from synthloop.settings import Settings
from synthloop.store.store import Store

__all__ = ["FILE_FORMATS", "FORMATS", "RANKING_PAIRS", "ExportReport", "export_version"]

FORMATS = ("sft", "dpo", "reward", "kto", "classification")
FILE_FORMATS = ("jsonl", "parquet", "datasets")
RANKING_PAIRS = ("best-vs-each", "best-vs-worst")
# The columns each format writes, in order: what TRL (or a classifier) expects.
COLUMNS = {
    "sft": ("messages",),
    "dpo": ("prompt", "chosen", "rejected"),
    "kto": ("prompt", "completion", "label"),
    "reward": ("prompt", "response", "score", "raw_score"),
    "classification": ("text", "label", "confidence"),
}

Row = dict[str, Any]


@dataclass
class ExportReport:
    """What an export wrote: rows per split, records used, records skipped by reason, files."""

    name: str
    version: int
    content_hash: str
    format: str
    file_format: str
    out: Path
    records: int
    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "content_hash": self.content_hash,
            "format": self.format,
            "file_format": self.file_format,
            "out": str(self.out),
            "records": self.records,
            "rows": self.rows,
            "skipped": self.skipped,
            "files": self.files,
        }


@dataclass(frozen=True)
class _Plan:
    """Which fields and questions play which part in the rows."""

    settings: Settings
    prompt: str
    response: str | None
    rating: Any
    label: Any
    ranking_pairs: str

    def prompt_messages(self, record: Record) -> list[dict[str, Any]] | None:
        value = record.fields.get(self.prompt)
        if isinstance(value, list):
            return [dict(m) for m in value] if value else None
        return [{"role": "user", "content": value}] if isinstance(value, str) and value else None

    def prompt_text(self, record: Record) -> str | None:
        value = record.fields.get(self.prompt)
        if isinstance(value, list):
            return "\n".join(f"{m['role']}: {m['content']}" for m in value) or None
        return value if isinstance(value, str) and value else None

    def response_pair(self, record: Record) -> tuple[str | None, str | None]:
        """The response as generated, and the human correction of it (None when none)."""
        if self.response is None:
            return None, None
        original = record.fields.get(self.response)
        correction = corrections(self.settings, record).get(self.response)
        return (
            original if isinstance(original, str) else None,
            correction[1] if correction else None,
        )


def export_version(
    store: Store,
    name: str,
    ref: str | int,
    format: str,
    out: Path,
    *,
    test_size: float = 0.1,
    seed: int = 0,
    file_format: str = "jsonl",
    prompt_field: str | None = None,
    response_field: str | None = None,
    ranking_pairs: str = "best-vs-each",
    licence: str = "unspecified",
) -> ExportReport:
    """Write version `ref` of dataset `name` as a `format` training set into the folder `out`
    (new, or empty): train and test files (`train.jsonl`/`test.jsonl`, `.parquet`, or a
    `datasets` save_to_disk folder) and README.md, a dataset card. A split with no rows is not
    written. `prompt_field` defaults to the first text field no question pre-fills (else the
    first chat field), `response_field` to the field a text question pre-fills."""
    _check_choice("format", format, FORMATS)
    _check_choice("file format", file_format, FILE_FORMATS)
    _check_choice("ranking pairs", ranking_pairs, RANKING_PAIRS)
    if not 0.0 <= test_size < 1.0:
        raise SynthloopError(f"test size {test_size} is outside 0..1 (exclusive); e.g. 0.1")
    version = get_version(store, name, ref)
    settings = version_settings(store, name, ref)
    plan = _plan(settings, format, prompt_field, response_field, ranking_pairs)
    records = version_records(store, name, ref)
    groups, skipped = _build(plan, format, records)
    if not groups:
        raise SynthloopError(_nothing_to_export(name, version, format, skipped))
    splits = split(groups, test_size, seed)
    report = ExportReport(
        name=name,
        version=version.number,
        content_hash=version.content_hash,
        format=format,
        file_format=file_format,
        out=out,
        records=len(groups),
        rows={key: len(rows) for key, rows in splits.items()},
        skipped=dict(sorted(skipped.items())),
    )
    with _new_folder(out) as folder:
        report.files = _WRITERS[file_format](folder, splits)
        write_card(store, name, version, records, settings, report, licence, folder)
        report.files.append("README.md")
    return report


def _check_choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SynthloopError(f"{what} {value!r} is not one of {', '.join(allowed)}")


def _nothing_to_export(name: str, version: Version, format: str, skipped: Counter[str]) -> str:
    reasons = "; ".join(f"{why}: {n}" for why, n in sorted(skipped.items()))
    return (
        f"version {version.number} of dataset {name!r} gives no {format} rows "
        f"({version.record_count} records skipped: {reasons}); pick another format, or name "
        "the fields and questions to use (--prompt-field, --response-field)"
    )


# ---------------------------------------------------------------- which fields play which part


def _plan(
    settings: Settings,
    format: str,
    prompt_field: str | None,
    response_field: str | None,
    ranking_pairs: str,
) -> _Plan:
    kinds = {f.name: f.type for f in settings.fields}
    prefilled = [q.prefill for q in settings.questions if q.type == "text" and q.prefill]
    prompt = prompt_field or _default_prompt(settings, prefilled)
    response = response_field or (prefilled[0] if prefilled and prefilled[0] != prompt else None)
    _check_field("prompt", prompt, kinds, ("text", "markdown", "chat"))
    if response is not None:
        _check_field("response", response, kinds, ("text", "markdown"))
    if format in ("sft", "dpo", "kto", "reward") and response is None and kinds[prompt] != "chat":
        raise SynthloopError(
            f"{format} needs a response field, and no text question pre-fills one; "
            f"pass --response-field (fields: {', '.join(kinds)})"
        )
    rating = next((q for q in settings.questions if q.type == "rating"), None)
    label = next((q for q in settings.questions if q.type in ("label", "multi_label")), None)
    if format == "reward" and rating is None:
        raise SynthloopError("reward needs a rating question; the dataset's settings have none")
    if format == "classification" and label is None:
        raise SynthloopError("classification needs a label question; the settings have none")
    return _Plan(settings, prompt, response, rating, label, ranking_pairs)


def _default_prompt(settings: Settings, prefilled: list[str]) -> str:
    texts = [f.name for f in settings.fields if f.type in ("text", "markdown")]
    chats = [f.name for f in settings.fields if f.type == "chat"]
    candidates = [n for n in texts if n not in prefilled] + chats + texts
    if not candidates:
        raise SynthloopError("no text or chat field to use as the prompt; pass --prompt-field")
    return candidates[0]


def _check_field(role: str, name: str, kinds: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    if kinds.get(name) not in allowed:
        choices = [n for n, kind in kinds.items() if kind in allowed]
        raise SynthloopError(
            f"{role} field {name!r} is not a {' or '.join(allowed)} field of the version's "
            f"settings; pass --{role}-field with one of: {', '.join(choices) or '(none)'}"
        )


# ---------------------------------------------------------------- rows, record by record

# A builder gives the record's rows, or the reason it gives none.
_Builder = Callable[[_Plan, Record], "list[Row] | str"]
Group = tuple[str, list[Row]]  # (stratum, a record's rows)


def _build(plan: _Plan, format: str, records: list[Record]) -> tuple[list[Group], Counter[str]]:
    builder = _BUILDERS[format]
    groups: list[Group] = []
    skipped: Counter[str] = Counter()
    for record in records:
        found = builder(plan, record)
        if isinstance(found, str):
            skipped[found] += 1
            continue
        stratum = (
            _label_key(found[0]["label"])
            if format == "classification"
            else source_kind(plan.settings, record)
        )
        groups.append((stratum, found))
    return groups, skipped


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _sft(plan: _Plan, record: Record) -> list[Row] | str:
    prompt = plan.prompt_messages(record)
    if prompt is None:
        return f"no {plan.prompt} value"
    original, corrected = plan.response_pair(record)
    response = corrected or original
    if plan.response is None:  # a chat prompt used as is
        return [{"messages": prompt}]
    if response is None:
        return f"no {plan.response} value"
    return [{"messages": prompt + _assistant(response)}]


def _dpo(plan: _Plan, record: Record) -> list[Row] | str:
    prompt = plan.prompt_messages(record)
    if prompt is None:
        return f"no {plan.prompt} value"
    pairs: list[tuple[str, str]] = []
    original, corrected = plan.response_pair(record)
    if original is not None and corrected is not None:
        pairs.append((corrected, original))
    for q in plan.settings.questions:
        if q.type == "ranking":
            pairs += _ranking_pairs(plan, record, (record.final or {}).get(q.name))
    if not pairs:
        return "no correction or ranking of text fields"
    return [
        {"prompt": prompt, "chosen": _assistant(chosen), "rejected": _assistant(rejected)}
        for chosen, rejected in pairs
    ]


def _ranking_pairs(plan: _Plan, record: Record, ranking: Any) -> list[tuple[str, str]]:
    if not isinstance(ranking, list) or len(ranking) < 2:
        return []
    texts = [record.fields.get(option) for option in ranking]
    if not all(isinstance(text, str) and text for text in texts):
        return []  # options that are not text fields of the record: nothing to compare
    best, *worse = texts
    chosen = worse if plan.ranking_pairs == "best-vs-each" else worse[-1:]
    return [(best, other) for other in chosen if other != best]  # type: ignore[misc]


def _kto(plan: _Plan, record: Record) -> list[Row] | str:
    prompt = plan.prompt_messages(record)
    if prompt is None:
        return f"no {plan.prompt} value"
    original, corrected = plan.response_pair(record)
    if original is None:
        return f"no {plan.response} value"
    if corrected is not None:
        labelled = [(original, False), (corrected, True)]
    else:
        rating = _rating(plan, record)
        good = True if rating is None else rating >= _midpoint(plan.rating.values)
        labelled = [(original, good)]
    return [
        {"prompt": prompt, "completion": _assistant(text), "label": label}
        for text, label in labelled
    ]


def _reward(plan: _Plan, record: Record) -> list[Row] | str:
    prompt = plan.prompt_text(record) if plan.response else None
    original, _ = plan.response_pair(record)
    rating = _rating(plan, record)
    if prompt is None or original is None:
        return f"no {plan.prompt} or {plan.response} value"
    if rating is None:
        return f"no final {plan.rating.name} rating"
    low, high = min(plan.rating.values), max(plan.rating.values)
    score = (rating - low) / (high - low)
    return [{"prompt": prompt, "response": original, "score": score, "raw_score": rating}]


def _classification(plan: _Plan, record: Record) -> list[Row] | str:
    text = plan.prompt_text(record)
    label = (record.final or {}).get(plan.label.name)
    if text is None:
        return f"no {plan.prompt} value"
    if label is None or label == []:
        return f"no final {plan.label.name} label"
    return [{"text": text, "label": label, "confidence": _confidence(plan, record, label)}]


def _rating(plan: _Plan, record: Record) -> int | None:
    value = (record.final or {}).get(plan.rating.name) if plan.rating else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _midpoint(values: list[int]) -> float:
    return (min(values) + max(values)) / 2


def _confidence(plan: _Plan, record: Record, label: Any) -> float | None:
    """How sure the decision was: the aggregation's confidence, else the routing score of an
    automatic acceptance, else the score of a suggestion that agrees; 1.0 for a reviewer's."""
    metadata = record.metadata
    if isinstance(metadata.get("confidence"), int | float):
        return float(metadata["confidence"])
    if str(metadata.get("decided_by", "")).startswith("reviewer:"):
        return 1.0
    route = metadata.get("route")
    if isinstance(route, dict) and isinstance(route.get("score"), int | float):
        return float(route["score"])
    suggestion = record.suggestions.get(plan.label.name)
    if suggestion is not None and suggestion.value == label and suggestion.score is not None:
        return float(suggestion.score)
    return None


def _label_key(label: Any) -> str:
    return "|".join(sorted(map(str, label))) if isinstance(label, list) else str(label)


_BUILDERS: dict[str, _Builder] = {
    "sft": _sft,
    "dpo": _dpo,
    "kto": _kto,
    "reward": _reward,
    "classification": _classification,
}


# ---------------------------------------------------------------- the split


def split(groups: list[Group], test_size: float, seed: int) -> dict[str, list[Row]]:
    """Train and test rows. Records (with all their rows) are shuffled by `seed` within each
    stratum; the test set takes round(records * test_size) records (at least one when there are
    two or more records and test_size > 0), shared among strata by their size (largest
    remainders first). Rows keep the version's order."""
    strata: dict[str, list[int]] = defaultdict(list)
    for index, (stratum, _) in enumerate(groups):
        strata[stratum].append(index)
    wanted = round(len(groups) * test_size)
    if test_size > 0 and len(groups) >= 2:
        wanted = min(max(wanted, 1), len(groups) - 1)
    rng = random.Random(seed)
    test: set[int] = set()
    for stratum, quota in _quotas(strata, wanted).items():
        members = list(strata[stratum])
        rng.shuffle(members)
        test.update(members[:quota])
    return {
        "train": [row for i, (_, rows) in enumerate(groups) if i not in test for row in rows],
        "test": [row for i, (_, rows) in enumerate(groups) if i in test for row in rows],
    }


def _quotas(strata: dict[str, list[int]], wanted: int) -> dict[str, int]:
    total = sum(len(members) for members in strata.values())
    shares = {s: len(m) * wanted / total for s, m in sorted(strata.items())} if total else {}
    quotas = {s: math.floor(share) for s, share in shares.items()}
    by_remainder = sorted(shares, key=lambda s: (-(shares[s] - quotas[s]), s))
    for stratum in by_remainder[: wanted - sum(quotas.values())]:
        quotas[stratum] += 1
    return quotas


# ---------------------------------------------------------------- files


@contextmanager
def _new_folder(out: Path) -> Iterator[Path]:
    """A fresh folder beside `out` to write into, renamed to `out` when the block succeeds."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SynthloopError(
            f"cannot export to {str(out)!r}: it exists and is not an empty folder; "
            "pass a new folder with --out"
        )
    if not out.parent.exists():
        raise SynthloopError(
            f"cannot export to {str(out)!r}: folder {str(out.parent)!r} does not exist; "
            "create it first"
        )
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        yield partial
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _write_jsonl(folder: Path, splits: dict[str, list[Row]]) -> list[str]:
    written = []
    for key, rows in splits.items():
        if rows:
            (folder / f"{key}.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
            written.append(f"{key}.jsonl")
    return written


def _write_parquet(folder: Path, splits: dict[str, list[Row]]) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # One schema from every row, so train and test agree even when a split lacks some value.
    schema = pa.Table.from_pylist([r for rows in splits.values() for r in rows]).schema
    written = []
    for key, rows in splits.items():
        if rows:
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / f"{key}.parquet")
            written.append(f"{key}.parquet")
    return written


def _write_datasets(folder: Path, splits: dict[str, list[Row]]) -> list[str]:
    import datasets
    import pyarrow as pa

    schema = pa.Table.from_pylist([r for rows in splits.values() for r in rows]).schema
    found = datasets.DatasetDict(
        {
            key: datasets.Dataset(pa.Table.from_pylist(rows, schema=schema))
            for key, rows in splits.items()
            if rows
        }
    )
    # Quietly: the command prints its own summary, and a library should not draw on stderr.
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        found.save_to_disk(str(folder))
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
    return sorted(p.name for p in folder.iterdir())


_WRITERS: dict[str, Callable[[Path, dict[str, list[Row]]], list[str]]] = {
    "jsonl": _write_jsonl,
    "parquet": _write_parquet,
    "datasets": _write_datasets,
}
