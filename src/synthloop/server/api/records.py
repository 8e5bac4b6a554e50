"""/api/records/{id}/responses: an annotator's answer to one record."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from synthloop.accounts import User
from synthloop.accounts.policy import role_allows
from synthloop.errors import NotAMember
from synthloop.records import Response
from synthloop.server.auth import CurrentUser, StoreDep, require
from synthloop.server.blocking import run_blocking
from synthloop.server.queue import submit
from synthloop.server.schemas import ResponseIn, response_out
from synthloop.store.store import Store

router = APIRouter(prefix="/api/records", tags=["records"])


@router.post("/{record_id}/responses")
async def submit_response(
    record_id: int, body: ResponseIn, user: CurrentUser, store: StoreDep, request: Request
) -> dict[str, Any]:
    """Store (or update) the caller's response; 422 lists every problem with the answers."""
    response = await run_blocking(store, _submit, record_id, body, user, store)
    request.app.state.metrics.submitted(body.status)
    return response_out(record_id, None, response)


def _submit(record_id: int, body: ResponseIn, user: User, store: Store) -> Response:
    dataset = store.dataset_of_record(record_id)
    # submit checks membership in its own transaction, so it is not looked up beforehand too
    # (the role's grant needs no lookup); a refusal gets require's 403 with its advice.
    if not role_allows(user.role, "annotate"):
        require(user, "annotate", dataset.name, store)
    try:
        return submit(
            dataset, record_id, user, body.values, body.status, body.duration, members_only=True
        )
    except NotAMember:
        require(user, "annotate", dataset.name, store)
        raise
