"""Dataset versions: the accepted records frozen into an immutable, content-hashed snapshot.

A training set must be reproducible: which records, with which final values, under which
settings and guidelines, decided by which aggregation. A version copies each accepted record's
JSON into the store (`version_records`), so later edits to a live record never reach it, and
names the whole by a sha256 over a canonical serialisation (sorted keys, records by external id):
the same content gives the same hash on every run and on SQLite and PostgreSQL alike.

Counts by source split the records in four: `synthetic` (generated, not corrected by a human),
`human_corrected` (generated, and a human's final answer to a text question that pre-fills a
field differs from that field), `human` and `imported`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from synthloop.errors import SynthloopError
from synthloop.records import Record, Response, Suggestion
from synthloop.settings import Settings
from synthloop.store import tables as t
from synthloop.store.dataset import Dataset
from synthloop.store.store import Store

__all__ = [
    "SOURCE_KINDS",
    "Version",
    "VersionDiff",
    "content_hash",
    "corrections",
    "create_version",
    "diff_versions",
    "get_version",
    "list_versions",
    "source_kind",
    "version_records",
    "version_settings",
]

SOURCE_KINDS = ("synthetic", "human_corrected", "human", "imported")
# The parts of a record a version keeps: its content and how it was decided, not its place in
# the queue (status is always "accepted", priority and reason are routing state).
_FROZEN = ("id", "fields", "metadata", "provenance", "suggestions", "responses", "final")
# Tags must not read as version numbers, so a reference is never ambiguous.
_NUMBER = re.compile(r"^v?(\d+)$")
_EXAMPLES = 5


@dataclass(frozen=True)
class Version:
    """A frozen snapshot of a dataset's accepted records (see the module docstring)."""

    number: int
    tag: str | None
    content_hash: str
    record_count: int
    counts_by_source: dict[str, int]
    round: int
    aggregation: str
    guidelines_hash: str
    created_at: datetime | None
    # True when create_version found the content unchanged and returned the latest version.
    reused: bool = field(default=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["created_at"] = self.created_at.isoformat() if self.created_at else None
        return body


@dataclass(frozen=True)
class VersionDiff:
    """Records (by external id) added, removed and changed from version `a` to version `b`;
    `changed` maps an id to the parts of the record that differ."""

    a: Version
    b: Version
    added: list[str]
    removed: list[str]
    changed: dict[str, list[str]]

    def to_dict(self, examples: int = _EXAMPLES) -> dict[str, Any]:
        return {
            "a": self.a.number,
            "b": self.b.number,
            "counts": {
                "added": len(self.added),
                "removed": len(self.removed),
                "changed": len(self.changed),
                "unchanged": self.b.record_count - len(self.added) - len(self.changed),
            },
            "examples": {
                "added": self.added[:examples],
                "removed": self.removed[:examples],
                "changed": [
                    {"id": i, "parts": p} for i, p in list(self.changed.items())[:examples]
                ],
            },
        }


# ---------------------------------------------------------------- making versions


def create_version(
    store: Store,
    name: str,
    *,
    tag: str | None = None,
    round: int = 0,
    aggregation: str = "dawid-skene",
) -> Version:
    """Freeze the dataset's accepted records into a new version and return it.

    When the content hash equals the latest version's, nothing is written and that version is
    returned (`reused` True), tagged with `tag` if it had no tag yet. A tag must be unique in the
    dataset and must not look like a version number ("3", "v3")."""
    dataset = store.dataset(name)
    _check_tag(tag)
    frozen = sorted(
        (freeze(r) for r in dataset.records(status="accepted")), key=lambda r: str(r["id"])
    )
    if not frozen:
        raise SynthloopError(
            f"dataset {name!r} has no accepted records to version; accept records first "
            f"(`synthloop aggregate {name}`, or `synthloop route {name}`)"
        )
    digest = content_hash(frozen, dataset.settings, aggregation)
    with store.engine.begin() as conn:
        latest = _latest(conn, dataset.id)
        if latest is not None and latest.content_hash == digest:
            return _reuse(conn, dataset, latest, tag)
        _check_tag_free(conn, dataset, tag)
        number = (latest.number if latest else 0) + 1
        counts = count_sources(dataset.settings, (thaw(r) for r in frozen))
        version_id = _insert_version(conn, dataset, number, tag, digest, counts, round, aggregation)
        conn.execute(
            insert(t.version_records),
            [{"version_id": version_id, "external_id": r["id"], "record": r} for r in frozen],
        )
    return get_version(store, name, number)


def _insert_version(
    conn: Connection,
    dataset: Dataset,
    number: int,
    tag: str | None,
    digest: str,
    counts: dict[str, int],
    round: int,
    aggregation: str,
) -> int:
    values = {
        "dataset_id": dataset.id,
        "number": number,
        "tag": tag,
        "content_hash": digest,
        "settings": dataset.settings.to_dict(),
        "guidelines": dataset.settings.guidelines,
        "guidelines_hash": _sha256(dataset.settings.guidelines.encode()),
        "aggregation": aggregation,
        "round": round,
        "record_count": sum(counts.values()),
        "counts": counts,
    }
    try:
        key = conn.execute(insert(t.versions).values(**values)).inserted_primary_key
        assert key is not None  # an INSERT of one row always has its key
        return int(key[0])
    except IntegrityError:
        raise SynthloopError(
            f"another version of dataset {dataset.name!r} was made at the same time as "
            f"version {number}; run `synthloop version {dataset.name}` again"
        ) from None


def _reuse(conn: Connection, dataset: Dataset, latest: Any, tag: str | None) -> Version:
    if tag is not None and latest.tag is None:
        _check_tag_free(conn, dataset, tag)
        conn.execute(update(t.versions).where(t.versions.c.id == latest.id).values(tag=tag))
        latest = _latest(conn, dataset.id)
    version = _version(latest)
    return Version(**{**asdict(version), "reused": True})


def _check_tag(tag: str | None) -> None:
    if tag is None:
        return
    if not tag.strip() or len(tag) > 200 or _NUMBER.match(tag):
        raise SynthloopError(
            f"tag {tag!r} is not valid: a tag is 1-200 characters and must not look like a "
            "version number ('3', 'v3'); use a name such as 'round-1' or 'release'"
        )


def _check_tag_free(conn: Connection, dataset: Dataset, tag: str | None) -> None:
    if tag is None:
        return
    query = select(t.versions.c.number).where(
        t.versions.c.dataset_id == dataset.id, t.versions.c.tag == tag
    )
    number = conn.execute(query).scalar()
    if number is not None:
        raise SynthloopError(
            f"tag {tag!r} already names version {number} of dataset {dataset.name!r}; "
            "pick another tag"
        )


# ---------------------------------------------------------------- reading versions


def list_versions(store: Store, name: str) -> list[Version]:
    """The dataset's versions, oldest first."""
    dataset = store.dataset(name)
    query = _VERSION_QUERY.where(t.versions.c.dataset_id == dataset.id).order_by(
        t.versions.c.number
    )
    with store.engine.connect() as conn:
        return [_version(row) for row in conn.execute(query)]


def get_version(store: Store, name: str, ref: str | int) -> Version:
    """A version by number (3, "3" or "v3") or by tag."""
    return _version(_row(store, store.dataset(name), ref))


def version_records(store: Store, name: str, ref: str | int) -> list[Record]:
    """The version's records as they were frozen, by external id; each is `accepted`, with no
    store id (a version's record is not a live record)."""
    row = _row(store, store.dataset(name), ref)
    query = (
        select(t.version_records.c.record)
        .where(t.version_records.c.version_id == row.id)
        .order_by(t.version_records.c.external_id)
    )
    with store.engine.connect() as conn:
        return [thaw(record) for (record,) in conn.execute(query)]


def version_settings(store: Store, name: str, ref: str | int) -> Settings:
    """The settings the dataset had when the version was made."""
    row = _row(store, store.dataset(name), ref)
    with store.engine.connect() as conn:
        raw = conn.execute(select(t.versions.c.settings).where(t.versions.c.id == row.id)).scalar()
    return Settings.parse(raw)


def diff_versions(store: Store, name: str, a: str | int, b: str | int) -> VersionDiff:
    """What changed from version `a` to version `b`, record by record (by external id)."""
    old = {r.external_id or "": freeze(r) for r in version_records(store, name, a)}
    new = {r.external_id or "": freeze(r) for r in version_records(store, name, b)}
    changed = {
        key: parts
        for key in sorted(old.keys() & new.keys())
        if (parts := [p for p in _FROZEN if _canonical(old[key][p]) != _canonical(new[key][p])])
    }
    return VersionDiff(
        a=get_version(store, name, a),
        b=get_version(store, name, b),
        added=sorted(new.keys() - old.keys()),
        removed=sorted(old.keys() - new.keys()),
        changed=changed,
    )


_VERSION_QUERY = select(
    t.versions.c.id,
    t.versions.c.number,
    t.versions.c.tag,
    t.versions.c.content_hash,
    t.versions.c.record_count,
    t.versions.c.counts,
    t.versions.c.round,
    t.versions.c.aggregation,
    t.versions.c.guidelines_hash,
    t.versions.c.created_at,
)


def _latest(conn: Connection, dataset_id: int) -> Any:
    query = _VERSION_QUERY.where(t.versions.c.dataset_id == dataset_id)
    return conn.execute(query.order_by(t.versions.c.number.desc()).limit(1)).first()


def _row(store: Store, dataset: Dataset, ref: str | int) -> Any:
    query = _VERSION_QUERY.where(t.versions.c.dataset_id == dataset.id)
    number = ref if isinstance(ref, int) else _number(ref)
    if number is not None:
        query = query.where(t.versions.c.number == number)
    else:
        query = query.where(t.versions.c.tag == ref)
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
        if row is not None:
            return row
        known = conn.execute(
            select(t.versions.c.number, t.versions.c.tag)
            .where(t.versions.c.dataset_id == dataset.id)
            .order_by(t.versions.c.number)
        ).all()
    listed = ", ".join(f"{n}" + (f" ({tag})" if tag else "") for n, tag in known)
    hint = f"its versions: {listed}" if known else "it has no versions yet"
    raise SynthloopError(
        f"dataset {dataset.name!r} has no version {ref!r} ({hint}); pass a version number or "
        f"tag, or make one with `synthloop version {dataset.name}`"
    )


def _number(ref: str) -> int | None:
    match = _NUMBER.match(ref.strip())
    return int(match.group(1)) if match else None


def _version(row: Any) -> Version:
    return Version(
        number=row.number,
        tag=row.tag,
        content_hash=row.content_hash,
        record_count=row.record_count,
        counts_by_source={k: int((row.counts or {}).get(k, 0)) for k in SOURCE_KINDS},
        round=row.round,
        aggregation=row.aggregation,
        guidelines_hash=row.guidelines_hash,
        created_at=row.created_at,
    )


# ---------------------------------------------------------------- content


def freeze(record: Record) -> dict[str, Any]:
    """The JSON a version keeps of a record (the parts named in _FROZEN)."""
    row = record.to_dict()
    return {key: row[key] for key in _FROZEN}


def thaw(frozen: dict[str, Any]) -> Record:
    return Record(
        fields=frozen["fields"],
        external_id=frozen["id"],
        metadata=frozen["metadata"],
        provenance=frozen["provenance"],
        status="accepted",
        suggestions={q: Suggestion(**s) for q, s in frozen["suggestions"].items()},
        responses=[Response(**r) for r in frozen["responses"]],
        final=frozen["final"],
    )


def content_hash(records: list[dict[str, Any]], settings: Settings, aggregation: str) -> str:
    """sha256 over the frozen records (sorted by external id), the settings (guidelines
    included) and the aggregation method, serialised with sorted keys."""
    body = {
        "records": sorted(records, key=lambda r: str(r["id"])),
        "settings": settings.to_dict(),
        "guidelines": settings.guidelines,
        "aggregation": aggregation,
    }
    return _sha256(_canonical(body))


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def corrections(settings: Settings, record: Record) -> dict[str, tuple[str, str]]:
    """The record's human corrections: {field: (original, corrected)} for each text question
    with `prefill` whose final answer differs (beyond surrounding whitespace) from the field."""
    found: dict[str, tuple[str, str]] = {}
    final = record.final or {}
    for q in settings.questions:
        if q.type != "text" or q.prefill is None:
            continue
        original, corrected = record.fields.get(q.prefill), final.get(q.name)
        if (
            isinstance(original, str)
            and isinstance(corrected, str)
            and corrected.strip()
            and corrected.strip() != original.strip()
        ):
            found[q.prefill] = (original, corrected)
    return found


def source_kind(settings: Settings, record: Record) -> str:
    """One of SOURCE_KINDS: a synthetic record with a human correction is `human_corrected`."""
    source = record.source
    if source == "synthetic" and corrections(settings, record):
        return "human_corrected"
    return source if source in SOURCE_KINDS else "imported"


def count_sources(settings: Settings, records: Iterable[Record]) -> dict[str, int]:
    counts = Counter(source_kind(settings, r) for r in records)
    return {kind: counts.get(kind, 0) for kind in SOURCE_KINDS}
