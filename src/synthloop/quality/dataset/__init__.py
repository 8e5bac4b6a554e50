"""Quality on a stored dataset: agreement per question, decisions on records, annotator report."""

from synthloop.quality.dataset._agreement import QuestionAgreement, dataset_agreement
from synthloop.quality.dataset._annotators import AnnotatorRow, annotator_report, wilson_interval
from synthloop.quality.dataset._answers import answers_for
from synthloop.quality.dataset._decide import (
    ADJUDICABLE,
    DECIDABLE,
    DEFAULT_THRESHOLD,
    DecisionReport,
    adjudicate,
    decide,
    decisions,
)

__all__ = [
    "ADJUDICABLE",
    "DECIDABLE",
    "DEFAULT_THRESHOLD",
    "AnnotatorRow",
    "DecisionReport",
    "QuestionAgreement",
    "adjudicate",
    "annotator_report",
    "answers_for",
    "dataset_agreement",
    "decide",
    "decisions",
    "wilson_interval",
]
