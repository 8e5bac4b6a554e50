"""/api/datasets/{name}/records: bulk import (owners), and paging and export of everything the
records hold, responses included (owners and reviewers: `read_responses`)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from synthloop.accounts import User
from synthloop.errors import ImportFailed, Problem
from synthloop.server.auth import CurrentUser, StoreDep, require
from synthloop.server.errors import ApiError
from synthloop.server.schemas import ExportFormat, Source, Status, record_row
from synthloop.store.dataset import Dataset
from synthloop.store.ingest import ImportReport
from synthloop.store.store import Store

router = APIRouter(prefix="/api/datasets", tags=["records"])

_BODY = "the request body"
_JSONL_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
_MEDIA_TYPES = {"jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}
_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Rows in the shape `synthloop import` reads (flat or nested).",
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"type": "object"}},
            },
            "application/x-ndjson": {
                "schema": {"type": "string", "description": "One JSON object per line."},
            },
        },
    }
}


@router.post("/{name}/records", openapi_extra=_IMPORT_BODY)
async def import_records(
    name: str, user: CurrentUser, store: StoreDep, request: Request
) -> dict[str, int]:
    """Add records, all or nothing (owners only): a JSON array, or JSONL (one row per line).
    Rows already in the dataset are skipped and counted; a 422 lists every invalid row and
    nothing is written."""
    dataset = await run_in_threadpool(_dataset, user, "manage", name, store)
    jsonl = _is_jsonl(request.headers.get("content-type", ""))
    # Spooled to disk: a large JSONL upload is then read a line at a time, like a file import.
    with tempfile.TemporaryDirectory(prefix="synthloop-import-") as folder:
        path = Path(folder) / "body"
        with path.open("wb") as f:
            async for chunk in request.stream():
                f.write(chunk)
        report = await run_in_threadpool(_import, dataset, path, jsonl)
    return report.to_dict()


@router.get("/{name}/records")
def list_records(
    name: str,
    user: CurrentUser,
    store: StoreDep,
    status: Annotated[list[Status] | None, Query(description="Only these statuses.")] = None,
    source: Annotated[list[Source] | None, Query(description="Only these sources.")] = None,
    after: Annotated[int, Query(ge=0, description="Records after this store id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """One page of records by store id, with everything each holds. `next_after` is the `after`
    of the next page, null on the last one."""
    dataset = _dataset(user, "read_responses", name, store)
    page = [record_row(r) for r in dataset.records(status, source, limit, after)]
    return {"records": page, "next_after": page[-1]["id"] if len(page) == limit else None}


@router.get(
    "/{name}/records/export",
    response_class=FileResponse,
    responses={200: {"content": {t: {} for t in _MEDIA_TYPES.values()}}},
)
def export_records(
    name: str,
    user: CurrentUser,
    store: StoreDep,
    format: ExportFormat = "jsonl",
    status: Annotated[list[Status] | None, Query(description="Only these statuses.")] = None,
    source: Annotated[list[Source] | None, Query(description="Only these sources.")] = None,
) -> FileResponse:
    """The file `synthloop export` writes (JSONL or Parquet), as a download; its record count is
    in the `X-Record-Count` header."""
    dataset = _dataset(user, "read_responses", name, store)
    folder = Path(tempfile.mkdtemp(prefix="synthloop-export-"))
    try:
        count = dataset.export(folder / f"{name}.{format}", format, status, source)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        folder / f"{name}.{format}",
        media_type=_MEDIA_TYPES[format],
        filename=f"{name}.{format}",
        headers={"X-Record-Count": str(count)},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def _dataset(user: User, action: str, name: str, store: Store) -> Dataset:
    require(user, action, name, store)
    return store.dataset(name)


def _is_jsonl(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    if media == "application/json":
        return False
    if media in _JSONL_TYPES:
        return True
    raise ApiError(
        415,
        f"Content-Type {media or '(none)'!r} is not accepted for records: send a JSON array of "
        "rows as application/json, or one row per line as application/x-ndjson",
    )


def _import(dataset: Dataset, path: Path, jsonl: bool) -> ImportReport:
    if jsonl:
        return dataset.import_file(path, "jsonl", source=_BODY)
    try:
        rows = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        problem = f"not valid JSON: {exc}; send a JSON array of rows"
        raise ImportFailed([Problem("body", problem)], source=_BODY) from None
    if not isinstance(rows, list):
        problem = (
            f"expected a JSON array of rows, got {type(rows).__name__}; wrap a single row in "
            "[...], or send JSONL as application/x-ndjson"
        )
        raise ImportFailed([Problem("body", problem)], source=_BODY)
    return dataset.add(rows, source=_BODY)
