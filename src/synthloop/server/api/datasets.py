"""/api/datasets/{name}/...: the next record to annotate, and the dataset's responses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from synthloop.accounts import can
from synthloop.server.auth import CurrentUser, StoreDep, require
from synthloop.server.queue import lease_next
from synthloop.server.schemas import record_out, response_out

router = APIRouter(prefix="/api/datasets", tags=["datasets"])


@router.get(
    "/{name}/next",
    responses={204: {"description": "Nothing is left for the caller in this dataset."}},
)
def next_record(name: str, user: CurrentUser, store: StoreDep) -> Any:
    """Lease the caller's next record (their running lease first); 204 when none is left."""
    require(user, "annotate", name, store)
    dataset = store.dataset(name)
    record = lease_next(dataset, user.username)
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
