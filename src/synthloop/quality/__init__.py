"""Quality: agreement between annotators, aggregation of their answers, annotator reliability.

Everything reads one shape, `Answers` (item, worker, value in long form).
"""

from synthloop.quality.aggregate import (
    METHODS,
    Aggregate,
    Ranking,
    aggregate,
    bradley_terry,
    dawid_skene,
    mace,
    majority_vote,
    ranked_answers,
    ranking_pairs,
    register_method,
    text_correction,
    weighted_rating,
)
from synthloop.quality.agreement import (
    AgreementUndefined,
    as_answers,
    cohen_kappa,
    coincidence_matrix,
    fleiss_components,
    fleiss_kappa,
    fleiss_kappa_answers,
    krippendorff_alpha,
    percent_agreement,
)
from synthloop.quality.agreement_distances import (
    interval_distance,
    jaccard_distance,
    kendall_tau_distance,
    level_for,
    masi_distance,
    nominal_distance,
    ratio_distance,
)
from synthloop.quality.agreement_interval import (
    Agreement,
    Pairwise,
    agreement_interval,
    pairwise_matrix,
)
from synthloop.quality.answers import Answers

__all__ = [
    "METHODS",
    "Aggregate",
    "Agreement",
    "AgreementUndefined",
    "Answers",
    "Pairwise",
    "Ranking",
    "aggregate",
    "agreement_interval",
    "as_answers",
    "bradley_terry",
    "cohen_kappa",
    "coincidence_matrix",
    "dawid_skene",
    "fleiss_components",
    "fleiss_kappa",
    "fleiss_kappa_answers",
    "interval_distance",
    "jaccard_distance",
    "kendall_tau_distance",
    "krippendorff_alpha",
    "level_for",
    "mace",
    "majority_vote",
    "masi_distance",
    "nominal_distance",
    "pairwise_matrix",
    "percent_agreement",
    "ranked_answers",
    "ranking_pairs",
    "ratio_distance",
    "register_method",
    "text_correction",
    "weighted_rating",
]
