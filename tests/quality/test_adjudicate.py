"""A review settles a record: the reviewer's (or an owner's) submitted answer becomes final, and
the record says who decided."""

from __future__ import annotations

import pytest

import synthloop
from synthloop.demo import SETTINGS
from synthloop.errors import SynthloopError
from synthloop.quality.dataset import adjudicate, decide
from synthloop.server.queue import enqueue, submit


@pytest.fixture
def dataset(store: synthloop.Store) -> synthloop.Dataset:
    strict = SETTINGS.replace("{overlap: 2}", "{overlap: 2, agreement_threshold: 0.7}")
    return store.create_dataset("support", synthloop.Settings.loads(strict))


@pytest.fixture
def disputed(store: synthloop.Store, dataset: synthloop.Dataset) -> int:
    """One record that ana and bo disagree on (overlap 2, threshold 0.7): disputed."""
    for name, role in [("ana", "annotator"), ("bo", "annotator"), ("own", "owner")]:
        store.add_user(name, role)
    dataset.add([{"id": "r1", "text": "where is my refund?", "reply": "soon"}])
    enqueue(dataset)
    (record,) = dataset.records()
    assert record.id is not None
    submit(dataset, record.id, "ana", {"intent": "refund", "quality": 4})
    submit(dataset, record.id, "bo", {"intent": "delivery", "quality": 2})
    assert dataset.records_by_id([record.id])[0].status == "disputed"
    return record.id


def test_an_owners_answer_alone_is_one_more_vote(dataset: synthloop.Dataset, disputed: int) -> None:
    # Why the review page adjudicates: by role, only "reviewer" answers are final by themselves.
    submit(dataset, disputed, "own", {"intent": "delivery", "quality": 3})
    record = dataset.records_by_id([disputed])[0]
    assert record.metadata["decided_by"] == "aggregate:majority"


def test_an_owners_review_is_final_and_says_who_decided(
    dataset: synthloop.Dataset, disputed: int
) -> None:
    answer = {"intent": "account", "quality": 5}
    submit(dataset, disputed, "own", answer)
    returned = adjudicate(dataset, disputed, "own")
    (stored,) = dataset.records_by_id([disputed])
    for record in (returned, stored):
        assert record.status == "accepted"
        assert record.reason is None
        assert record.final == answer
        assert record.metadata["decided_by"] == "reviewer:own"
        assert "confidence" not in record.metadata
    assert decide(dataset, "majority").counts == {"settled": 1}  # a later decision keeps it
    assert dataset.records_by_id([disputed])[0].final == answer


def test_a_review_needs_a_submitted_answer_and_an_open_record(
    dataset: synthloop.Dataset, disputed: int
) -> None:
    submit(dataset, disputed, "own", {"intent": "account"}, status="draft")
    with pytest.raises(SynthloopError, match="'own' has no submitted response to record 'r1'"):
        adjudicate(dataset, disputed, "own")
    with pytest.raises(SynthloopError, match="record 999999 is not a record of dataset"):
        adjudicate(dataset, 999999, "ana")
    dataset.update_records(
        [
            {
                "record_id": disputed,
                "status": "rejected",
                "reason": "off topic",
                "final": None,
                "metadata": {},
            }
        ]
    )
    with pytest.raises(SynthloopError, match=r"'r1' is rejected; only pending, .* accepted"):
        adjudicate(dataset, disputed, "ana")
