"""/api/datasets: list and create datasets; /api/datasets/{name}/...: a dataset's summary,
queueing its records, the next record to annotate, and the dataset's responses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from synthloop.accounts import User, can
from synthloop.errors import DatasetNotFound, NotAMember
from synthloop.server.auth import CurrentUser, StoreDep, require
from synthloop.server.blocking import run_blocking
from synthloop.server.errors import ApiError
from synthloop.server.queue import enqueue, lease_next
from synthloop.server.schemas import (
    DatasetIn,
    QueueIn,
    dataset_out,
    record_out,
    response_out,
)
from synthloop.store.store import Store

router = APIRouter(prefix="/api/datasets", tags=["datasets"])


@router.get("")
def list_datasets(user: CurrentUser, store: StoreDep) -> list[dict[str, Any]]:
    """The datasets the caller works on (owners: all), with record counts by status."""
    found = store.datasets()
    return [dataset_out(d) for d in found if can(user, "annotate", d.name, store)]


@router.post("", status_code=201)
def create_dataset(body: DatasetIn, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Create an empty dataset (owners only); 422 lists every problem with the settings, 409
    when the name is taken."""
    if not can(user, "manage", None, store):
        raise ApiError(
            403,
            f"user {user.username!r} ({user.role}) may not create datasets; only owners may: "
            "ask an owner to create it",
        )
    return dataset_out(store.create_dataset(body.name, body.settings), with_settings=True)


@router.get("/{name}")
def get_dataset(name: str, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """The dataset's settings (fields, questions, guidelines) and record counts by status."""
    require(user, "annotate", name, store)
    return dataset_out(store.dataset(name), with_settings=True)


@router.post("/{name}/queue")
def queue_records(
    name: str, user: CurrentUser, store: StoreDep, body: QueueIn | None = None
) -> dict[str, int]:
    """Queue records for annotation (owners only), like `synthloop queue`: those with `status`
    (default pending), the `limit` highest-priority ones if given."""
    require(user, "manage", name, store)
    body = body or QueueIn()
    return {"queued": enqueue(store.dataset(name), body.status, body.limit)}


@router.get(
    "/{name}/next",
    responses={204: {"description": "Nothing is left for the caller in this dataset."}},
)
async def next_record(name: str, user: CurrentUser, store: StoreDep) -> Any:
    """Lease the caller's next record (their running lease first); 204 when none is left."""
    return await run_blocking(store, _next_record, name, user, store)


def _next_record(name: str, user: User, store: Store) -> Any:
    # lease_next refuses a non-member in its own transaction, so membership is not looked up
    # beforehand too. A refusal, or a dataset that does not exist, gets require's 403 for
    # non-members either way: they cannot tell which dataset names exist.
    try:
        dataset = store.dataset(name)
        record = lease_next(dataset, user)
    except (DatasetNotFound, NotAMember):
        require(user, "annotate", name, store)
        raise
    if record is None:
        return Response(status_code=204)
    return record_out(dataset, record)


@router.get("/{name}/responses")
def list_responses(name: str, user: CurrentUser, store: StoreDep) -> list[dict[str, Any]]:
    """Owners and reviewers read every response; annotators only their own."""
    if can(user, "read_responses", name, store):
        only = None
    else:
        require(user, "annotate", name, store)
        only = user.username
    dataset = store.dataset(name)
    return [response_out(*row) for row in dataset.responses(only)]
