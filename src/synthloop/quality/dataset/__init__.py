"""Quality on a stored dataset: agreement per question, decisions on records, annotator report."""

from synthloop.quality.dataset._agreement import QuestionAgreement, dataset_agreement
from synthloop.quality.dataset._annotators import AnnotatorRow, annotator_report, wilson_interval
from synthloop.quality.dataset._answers import answers_for
from synthloop.quality.dataset._decide import (
    DECIDABLE,
    DEFAULT_THRESHOLD,
    DecisionReport,
    decide,
)

__all__ = [
    "DECIDABLE",
    "DEFAULT_THRESHOLD",
    "AnnotatorRow",
    "DecisionReport",
    "QuestionAgreement",
    "annotator_report",
    "answers_for",
    "dataset_agreement",
    "decide",
    "wilson_interval",
]
