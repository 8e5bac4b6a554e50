"""Records browser queries on both databases: every filter with exact counts, keyset pages both
ways, the review order, and submissions over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import synthloop
from synthloop.errors import SynthloopError
from synthloop.store.browse import (
    RecordFilter,
    browse,
    count,
    first_submission,
    response_times,
    review_neighbours,
    review_page,
    submissions_by_time,
    submitted_count,
)


def _row(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"r{i}", "fields": {"text": f"message {i}", "reply": f"reply {i}"}, **extra}


ROWS = [
    _row(
        0,
        status="accepted",
        final={"intent": "refund", "topics": ["billing", "login"], "quality": 4},
        metadata={"channel": "chat", "n": 3, "vip": True, "a.b": "dotted"},
        provenance={"source": "synthetic"},
    ),
    _row(
        1,
        status="disputed",
        reason="question 'intent' confidence 0.500 is below the threshold 0.7 by 0.200",
        priority=2.0,
        suggestions={"intent": {"value": "delivery", "score": 0.4, "agent": "m"}},
        metadata={"channel": "mail"},
    ),
    _row(
        2,
        status="rejected",
        reason="Near-duplicate of r1 (100%)",
        provenance={"source": "human"},
        suggestions={"topics": {"value": ["shipping"], "score": 0.9, "agent": "m"}},
    ),
    {
        "id": "r3",
        "fields": {
            "text": "Ünïcode and 50% OFF_sale",
            "reply": 'He said "hello"\nthen left',
            "conversation": [{"role": "user", "content": "the Parcel never came"}],
        },
        "status": "disputed",
        "reason": "question 'intent' confidence 0.400 is below the threshold 0.7 by 0.300",
        "priority": 2.0,
    },
    _row(4, status="disputed", reason="agreement", priority=5.0, metadata={"n": 30}),
    _row(5, status="queued"),
]


@pytest.fixture
def data(dataset: synthloop.Dataset) -> synthloop.Dataset:
    dataset.add(ROWS)
    return dataset


def _ids(dataset: synthloop.Dataset, **where: Any) -> list[str]:
    page = browse(dataset, RecordFilter(**where), limit=100)
    found = [str(r.external_id) for r in page.records]
    assert count(dataset, RecordFilter(**where)) == len(found)
    return found


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({}, ["r0", "r1", "r2", "r3", "r4", "r5"]),
        ({"status": ("disputed",)}, ["r1", "r3", "r4"]),
        ({"status": ("accepted", "rejected")}, ["r0", "r2"]),
        ({"source": ("human",)}, ["r2"]),
        ({"source": ("synthetic", "human")}, ["r0", "r2"]),
        ({"reason": "near-DUPLICATE"}, ["r2"]),
        ({"reason": "100%"}, ["r2"]),  # % is a character here, not a wildcard
        ({"reason": "0.7"}, ["r1", "r3"]),
        ({"label": "refund"}, ["r0"]),  # a final label
        ({"label": "login"}, ["r0"]),  # one of a final multi-label
        ({"label": "delivery"}, ["r1"]),  # a suggestion's label
        ({"label": "shipping"}, ["r2"]),  # one of a suggestion's labels
        ({"label": "shipping", "question": "intent"}, []),
        ({"label": "refund", "question": "intent"}, ["r0"]),
        ({"label": "4"}, []),  # a rating is no label
        ({"metadata": (("channel", "chat"),)}, ["r0"]),
        ({"metadata": (("n", "3"),)}, ["r0"]),
        ({"metadata": (("n", "30"),)}, ["r4"]),
        ({"metadata": (("vip", "true"),)}, ["r0"]),
        ({"metadata": (("a.b", "dotted"),)}, ["r0"]),
        ({"metadata": (("channel", "chat"), ("n", "3"))}, ["r0"]),
        ({"metadata": (("channel", "mail"), ("n", "3"))}, []),
        ({"text": "MESSAGE 1"}, ["r1"]),
        ({"text": "reply"}, ["r0", "r1", "r2", "r4", "r5"]),
        ({"text": "50% off_"}, ["r3"]),
        ({"text": "0%"}, ["r3"]),
        ({"text": "_"}, ["r3"]),  # _ is a character, not "any character"
        ({"text": 'said "hello"\nthen'}, ["r3"]),  # matched on the text, not its JSON escapes
        ({"text": "parcel never"}, ["r3"]),  # inside a chat message
        ({"text": "Ünïcode"}, ["r3"]),
        ({"text": "conversation"}, []),  # field names are not searched
        ({"status": ("disputed",), "text": "message"}, ["r1", "r4"]),
    ],
)
def test_filters_match_exactly(
    data: synthloop.Dataset, where: dict[str, Any], expected: list[str]
) -> None:
    assert _ids(data, **where) == expected


def test_values_that_cannot_match_are_refused_with_what_would(data: synthloop.Dataset) -> None:
    with pytest.raises(SynthloopError, match=r"status 'done' is not one of pending.*"):
        browse(data, RecordFilter(status=("done",)))
    with pytest.raises(SynthloopError, match=r"question 'quality' is not a label question.*intent"):
        count(data, RecordFilter(label="4", question="quality"))


def test_pages_walk_forward_and_back_by_id(data: synthloop.Dataset) -> None:
    first = browse(data, limit=2)
    assert [r.external_id for r in first.records] == ["r0", "r1"]
    assert first.previous_before is None
    assert first.next_after is not None
    second = browse(data, after=first.next_after, limit=2)
    assert [r.external_id for r in second.records] == ["r2", "r3"]
    third = browse(data, after=second.next_after, limit=2)
    assert [r.external_id for r in third.records] == ["r4", "r5"]
    assert third.next_after is None
    back = browse(data, before=third.previous_before, limit=2)
    assert [r.external_id for r in back.records] == ["r2", "r3"]
    assert back.next_after == second.next_after
    start = browse(data, before=back.previous_before, limit=2)
    assert [r.external_id for r in start.records] == ["r0", "r1"]
    assert start.previous_before is None
    filtered = browse(data, RecordFilter(status=("disputed",)), limit=2)
    assert [r.external_id for r in filtered.records] == ["r1", "r3"]
    rest = browse(data, RecordFilter(status=("disputed",)), after=filtered.next_after, limit=2)
    assert [r.external_id for r in rest.records] == ["r4"]
    assert rest.next_after is None
    assert rest.previous_before is not None


def test_records_come_whole(data: synthloop.Dataset) -> None:
    (record,) = browse(data, RecordFilter(label="delivery")).records
    assert record.suggestions["intent"].value == "delivery"
    assert record.fields == {"text": "message 1", "reply": "reply 1"}


def test_review_order_is_priority_then_newest(data: synthloop.Dataset) -> None:
    page = review_page(data, limit=2)
    assert [r.external_id for r in page.records] == ["r4", "r3"]
    rest = review_page(data, after=page.next_after, limit=2)
    assert [r.external_id for r in rest.records] == ["r1"]
    assert rest.next_after is None
    by_external = {r.external_id: r.id for r in data.records()}
    assert review_neighbours(data, by_external["r4"]) == (None, by_external["r3"])
    assert review_neighbours(data, by_external["r3"]) == (by_external["r4"], by_external["r1"])
    assert review_neighbours(data, by_external["r1"]) == (by_external["r3"], None)
    # a record no longer disputed still has its place: the next one is found after saving
    assert review_neighbours(data, by_external["r0"]) == (by_external["r1"], None)


def test_submissions_are_counted_by_hour_and_day(
    store: synthloop.Store, data: synthloop.Dataset
) -> None:
    from synthloop.accounts import create_user
    from synthloop.server.queue import enqueue, submit

    assert first_submission(data) is None
    assert submissions_by_time(data) == {}
    enqueue(data, status="queued")
    for name in ("ana", "bo"):
        create_user(store, name, "annotator")
    r5 = next(r for r in data.records() if r.external_id == "r5")
    assert r5.id is not None
    submit(data, r5.id, "ana", {"intent": "refund", "quality": 3})
    submit(data, r5.id, "bo", {"intent": "other", "quality": 3}, status="draft")
    assert submitted_count(data) == 1
    hours = submissions_by_time(data, "hour")
    days = submissions_by_time(data, "day")
    assert sum(hours.values()) == sum(days.values()) == 1
    (hour,) = hours
    (day,) = days
    assert hour.minute == 0
    assert (hour.hour, day.hour) != (None, None)
    assert day == hour.replace(hour=0)
    at = first_submission(data)
    assert at is not None
    assert at.tzinfo is not None
    assert hour <= at < hour + timedelta(hours=1)
    assert submissions_by_time(data, "hour", since=at + timedelta(hours=1)) == {}
    assert sum(submissions_by_time(data, "hour", since=at - timedelta(hours=1)).values()) == 1
    times = response_times(data, r5.id)
    assert set(times) == {"ana", "bo"}
    assert all(t.tzinfo is UTC for t in times.values())
    with pytest.raises(SynthloopError, match="unit 'week'"):
        submissions_by_time(data, "week")
    assert datetime.now(UTC) - at < timedelta(days=1)
