"""Agreement measures: the published reference values, a naive Krippendorff alpha to check the
vectorised one against, and the properties every measure must keep."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pytest

from helpers import shared_path
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
from synthloop.quality.agreement_interval import Agreement, agreement_interval, pairwise_matrix
from synthloop.quality.answers import Answers


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    path = shared_path("benchmarks/agreement/reference_cases.json")
    cases: dict[str, Any] = json.loads(path.read_text())
    return cases


def published(got: float, expected: float) -> bool:
    """`got` equals `expected` to as many decimals as the reference gives."""
    decimals = len(repr(float(expected)).partition(".")[2])
    return round(got, decimals) == pytest.approx(expected, abs=1e-12)


def expand(table: list[list[int]]) -> tuple[list[int], list[int]]:
    """Aligned label sequences for a contingency table (rows = first rater)."""
    a: list[int] = []
    b: list[int] = []
    for i, row in enumerate(table):
        for j, n in enumerate(row):
            a += [i] * n
            b += [j] * n
    return a, b


def counts_to_answers(counts: list[list[int]]) -> Answers:
    triples = []
    for item, row in enumerate(counts):
        raters = itertools.count()
        for category, n in enumerate(row):
            triples += [(item, next(raters), category) for _ in range(n)]
    return Answers.from_triples(triples)


# --- reference values ---------------------------------------------------------------------------


def test_reference_file_has_the_four_cases(reference: dict[str, Any]) -> None:
    assert set(reference) == {
        "wikipedia_krippendorff_alpha_3coders_15units",
        "fleiss_wikipedia_10subjects_14raters",
        "artstein_poesio2008_table1",
        "sklearn_weighted_kappa",
    }


@pytest.mark.parametrize("form", ["lists", "nan_array", "answers"])
def test_krippendorff_wikipedia(reference: dict[str, Any], form: str) -> None:
    case = reference["wikipedia_krippendorff_alpha_3coders_15units"]
    matrix = case["data"]
    data: Any = matrix
    if form == "nan_array":
        data = np.array([[np.nan if v is None else v for v in row] for row in matrix])
    elif form == "answers":
        data = Answers.from_triples(
            (f"unit{u}", f"coder{c}", v)
            for c, row in enumerate(matrix)
            for u, v in enumerate(row)
            if v is not None
        )
    for level, expected in case["expected"].items():
        got = krippendorff_alpha(data, level=level)
        assert published(got, expected), (level, got, expected)


def test_krippendorff_wikipedia_distance_callables_agree(reference: dict[str, Any]) -> None:
    matrix = reference["wikipedia_krippendorff_alpha_3coders_15units"]["data"]
    assert krippendorff_alpha(matrix, nominal_distance) == pytest.approx(
        krippendorff_alpha(matrix, "nominal")
    )
    assert krippendorff_alpha(matrix, interval_distance) == pytest.approx(
        krippendorff_alpha(matrix, "interval")
    )
    assert krippendorff_alpha(matrix, ratio_distance) == pytest.approx(
        krippendorff_alpha(matrix, "ratio")
    )


def test_fleiss_wikipedia(reference: dict[str, Any]) -> None:
    case = reference["fleiss_wikipedia_10subjects_14raters"]
    observed, chance = fleiss_components(case["data"])
    kappa = fleiss_kappa(case["data"])
    assert published(kappa, case["expected"]["kappa"]), kappa
    assert published(observed, case["expected"]["P_bar"]), observed
    assert published(chance, case["expected"]["P_e_bar"]), chance
    assert fleiss_kappa_answers(counts_to_answers(case["data"])) == pytest.approx(kappa)


def test_cohen_artstein_poesio(reference: dict[str, Any]) -> None:
    case = reference["artstein_poesio2008_table1"]
    got = cohen_kappa(*expand(case["data"]))
    assert published(got, case["expected"]["cohen_kappa"]), got


def test_cohen_sklearn_weighted(reference: dict[str, Any]) -> None:
    case = reference["sklearn_weighted_kappa"]
    a, b = expand(case["data"])
    for name, weights in [("unweighted", None), ("linear", "linear"), ("quadratic", "quadratic")]:
        got = cohen_kappa(a, b, weights=weights)  # type: ignore[arg-type]
        assert published(got, case["expected"][name]), (name, got)


# --- a naive alpha, straight from Krippendorff's definition ----------------------------------


def naive_alpha(units: list[list[Any]], distance: Callable[[Any, Any], float]) -> float:
    pairable = [u for u in units if len(u) >= 2]
    values = [v for u in pairable for v in u]
    n = len(values)
    observed = sum(
        distance(u[i], u[j]) / (len(u) - 1)
        for u in pairable
        for i in range(len(u))
        for j in range(len(u))
        if i != j
    )
    expected = sum(distance(values[i], values[j]) for i in range(n) for j in range(n) if i != j)
    return 1 - (n - 1) * observed / expected


def ordinal_distance(values: list[int]) -> Callable[[Any, Any], float]:
    frequency = Counter(values)

    def distance(c: int, k: int) -> float:
        low, high = min(c, k), max(c, k)
        between = sum(frequency[g] for g in frequency if low <= g <= high)
        return float((between - (frequency[c] + frequency[k]) / 2) ** 2)

    return distance


def random_ratings(seed: int, items: int = 40, coders: int = 5) -> list[tuple[int, int, int]]:
    rng = random.Random(seed)
    triples = []
    for item in range(items):
        truth = rng.randint(1, 5)
        for coder in range(coders):
            if rng.random() < 0.3:
                continue  # missing
            noisy = truth if rng.random() < 0.6 else rng.randint(1, 5)
            triples.append((item, coder, noisy))
    return triples


def units_of(triples: list[tuple[Any, Any, Any]]) -> list[list[Any]]:
    by_item: dict[Any, list[Any]] = {}
    for item, _, value in triples:
        by_item.setdefault(item, []).append(value)
    return list(by_item.values())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alpha_matches_the_definition_at_every_level(seed: int) -> None:
    triples = random_ratings(seed)
    answers = Answers.from_triples(triples)
    units = units_of(triples)
    pairable_values = [v for u in units if len(u) >= 2 for v in u]
    cases: list[tuple[Any, Callable[[Any, Any], float]]] = [
        ("nominal", nominal_distance),
        ("interval", interval_distance),
        ("ratio", ratio_distance),
        ("ordinal", ordinal_distance(pairable_values)),
        (lambda a, b: abs(a - b), lambda a, b: abs(a - b)),
    ]
    for level, distance in cases:
        assert krippendorff_alpha(answers, level) == pytest.approx(naive_alpha(units, distance))


def test_alpha_with_set_and_ranking_distances_matches_the_definition() -> None:
    rng = random.Random(7)
    labels = ["a", "b", "c"]
    sets, ranks = [], []
    for item in range(30):
        for coder in range(3):
            sets.append((item, coder, tuple(sorted(rng.sample(labels, rng.randint(0, 3))))))
            ranks.append((item, coder, tuple(rng.sample(labels, 3))))
    for triples, distance in [
        (sets, masi_distance),
        (sets, jaccard_distance),
        (ranks, kendall_tau_distance),
    ]:
        got = krippendorff_alpha(Answers.from_triples(triples), distance)
        assert got == pytest.approx(naive_alpha(units_of(triples), distance))


def test_coincidence_matrix_is_symmetric_with_the_value_counts_as_margins() -> None:
    triples = random_ratings(4)
    answers = Answers.from_triples(triples)
    matrix = coincidence_matrix(answers)
    pairable = Counter(v for u in units_of(triples) if len(u) >= 2 for v in u)
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_allclose(matrix.sum(axis=1), [pairable[v] for v in answers.values])


# --- properties ----------------------------------------------------------------------------------


def test_perfect_agreement_is_one() -> None:
    answers = Answers.from_triples(
        (item, coder, item % 3 + 1) for item in range(12) for coder in range(4)
    )
    for level in ("nominal", "ordinal", "interval", "ratio", interval_distance):
        assert krippendorff_alpha(answers, level) == pytest.approx(1.0)
    assert percent_agreement(answers) == 1.0
    assert fleiss_kappa_answers(answers) == pytest.approx(1.0)
    labels = [i % 3 for i in range(12)]
    for weights in (None, "linear", "quadratic"):
        assert cohen_kappa(labels, labels, weights=weights) == pytest.approx(1.0)
    sets = Answers.from_triples(
        (item, coder, (("x",), ("x", "y"), ())[item % 3]) for item in range(9) for coder in range(3)
    )
    assert krippendorff_alpha(sets, masi_distance) == pytest.approx(1.0)


def test_nominal_alpha_two_coders_krippendorff_2011_binary_example() -> None:
    # "Computing Krippendorff's alpha-reliability" (2011), binary data, two observers:
    # alpha = 1 - (n - 1) o_01 / (n_0 n_1) = 1 - 19 * 4 / (14 * 6) = 0.095
    first = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    second = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert krippendorff_alpha([first, second]) == pytest.approx(1 - 19 * 4 / 84)
    assert round(krippendorff_alpha([first, second]), 3) == 0.095


def test_nominal_alpha_two_coders_is_scotts_pi_corrected_for_sample_size() -> None:
    a, b = expand([[20, 20], [10, 50]])  # Artstein & Poesio table 1
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pooled = Counter(a + b)
    chance = sum((c / (2 * n)) ** 2 for c in pooled.values())
    pi = (observed - chance) / (1 - chance)
    # alpha's expected disagreement draws without replacement from the 2N values
    assert krippendorff_alpha([a, b]) == pytest.approx(1 - (1 - pi) * (2 * n - 1) / (2 * n))
    assert round(pi, 3) == 0.341  # A_o = 0.7, A_e = 0.35^2 + 0.65^2 = 0.545
    assert pi <= cohen_kappa(a, b)  # pooled chance agreement is never below kappa's


def test_missing_values_are_skipped() -> None:
    a = [1, 2, None, 3, 1, float("nan"), 2]
    b = [1, 2, 3, None, 2, 1, 2]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa([1, 2, 1, 2], [1, 2, 2, 2]))
    triples = random_ratings(5)
    with_lonely = [*triples, ("lonely", 0, 5), ("lonely-too", 3, 1)]  # one answer: not pairable
    assert krippendorff_alpha(Answers.from_triples(with_lonely)) == pytest.approx(
        krippendorff_alpha(Answers.from_triples(triples))
    )
    assert percent_agreement(Answers.from_triples(with_lonely)) == pytest.approx(
        percent_agreement(Answers.from_triples(triples))
    )


def test_matrix_and_long_form_agree() -> None:
    triples = random_ratings(6, items=25, coders=4)
    matrix: list[list[Any]] = [[None] * 25 for _ in range(4)]
    for item, coder, value in triples:
        matrix[coder][item] = value
    for level in ("nominal", "ordinal", "interval"):
        expected = krippendorff_alpha(Answers.from_triples(triples), level)
        assert krippendorff_alpha(matrix, level) == pytest.approx(expected)
        assert krippendorff_alpha(np.array(matrix, dtype=float), level) == pytest.approx(expected)


def test_permuting_workers_items_and_answer_order_changes_nothing() -> None:
    triples = random_ratings(8)
    rng = random.Random(0)
    workers = {w: f"w{rng.random()}" for w in range(5)}
    items = {i: f"i{rng.random()}" for i in range(40)}
    shuffled = [(items[i], workers[w], v) for i, w, v in triples]
    rng.shuffle(shuffled)
    before, after = Answers.from_triples(triples), Answers.from_triples(shuffled)
    for level in ("nominal", "ordinal", "interval"):
        assert krippendorff_alpha(after, level) == pytest.approx(krippendorff_alpha(before, level))
    assert percent_agreement(after) == pytest.approx(percent_agreement(before))
    full = [(i, w, (i * w) % 3) for i in range(20) for w in range(4)]
    permuted = [(items[i], workers[w], v) for i, w, v in reversed(full)]
    assert fleiss_kappa_answers(Answers.from_triples(permuted)) == pytest.approx(
        fleiss_kappa_answers(Answers.from_triples(full))
    )


def test_percent_agreement_counts_ordered_pairs() -> None:
    # item 0: a a b -> 2 of 6 ordered pairs agree; item 1: c c -> 2 of 2; item 2 alone: no pairs
    answers = Answers.from_triples(
        [(0, 0, "a"), (0, 1, "a"), (0, 2, "b"), (1, 0, "c"), (1, 1, "c"), (2, 0, "a")]
    )
    assert percent_agreement(answers) == pytest.approx(4 / 8)


# --- bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_interval_contains_the_estimate_and_is_deterministic() -> None:
    triples = random_ratings(9, items=120)
    answers = Answers.from_triples(triples)
    pairable = [u for u in units_of(triples) if len(u) >= 2]
    measure = partial(krippendorff_alpha, level="interval")
    result = agreement_interval(answers, measure, n=300, seed=3)
    assert isinstance(result, Agreement)
    estimate, low, high = result
    assert estimate == pytest.approx(measure(answers))
    assert low <= estimate <= high
    assert low < high
    assert agreement_interval(answers, measure, n=300, seed=3) == result
    assert agreement_interval(answers, measure, n=300, seed=4) != result
    assert (result.n_items, result.n_answers) == (len(pairable), sum(map(len, pairable)))
    assert result.to_dict()["n_resamples"] == 300
    assert json.loads(json.dumps(result.to_dict()))["value"] == pytest.approx(estimate)


def test_bootstrap_leaves_out_unpairable_items_and_counts_undefined_resamples() -> None:
    # two items agree on 'x', one disagrees; a resample of only the agreeing items has no
    # variation, so alpha is undefined there and the interval leaves it out with a count
    answers = Answers.from_triples(
        [(0, 0, "x"), (0, 1, "x"), (1, 0, "x"), (1, 1, "x"), (2, 0, "x"), (2, 1, "y"), (3, 0, "z")]
    )
    result = agreement_interval(answers, krippendorff_alpha, n=200)
    assert result.n_items == 3
    assert result.n_answers == 6
    assert 0 < result.n_undefined < 200
    assert result.low <= result.value <= result.high


def test_bootstrap_rejects_bad_options() -> None:
    answers = Answers.from_triples(random_ratings(1))
    with pytest.raises(ValueError, match="n >= 1"):
        agreement_interval(answers, percent_agreement, n=0)
    with pytest.raises(ValueError, match=r"confidence in \(0, 1\)"):
        agreement_interval(answers, percent_agreement, level=95)


# --- pairwise ------------------------------------------------------------------------------------


def test_pairwise_matrix() -> None:
    triples = [
        *[(i, "ann", i % 2) for i in range(10)],
        *[(i, "bob", i % 2 if i < 8 else 1 - i % 2) for i in range(10)],
        *[(i, "cy", i % 3 % 2) for i in range(5)],
        *[(i, "dee", 0) for i in range(20, 25)],  # shares nothing with anyone
    ]
    result = pairwise_matrix(Answers.from_triples(triples))
    ids = result.worker_ids
    ann, bob, cy, dee = (ids.index(w) for w in ("ann", "bob", "cy", "dee"))
    assert result.values[ann, bob] == pytest.approx(
        cohen_kappa([i % 2 for i in range(10)], [t[2] for t in triples[10:20]])
    )
    np.testing.assert_array_equal(result.values, result.values.T)
    assert result.shared[ann, bob] == 10
    assert result.shared[ann, cy] == 5
    assert result.shared[ann, ann] == 10
    assert result.shared[dee, ann] == 0
    assert math.isnan(result.values[dee, ann])
    assert math.isnan(result.values[ann, ann])
    as_dict = result.to_dict()
    assert as_dict["values"][dee][ann] is None
    assert json.loads(json.dumps(as_dict))["shared"][ann][bob] == 10


def test_pairwise_matrix_is_nan_where_the_measure_is_undefined() -> None:
    triples = [(i, w, "same") for i in range(4) for w in ("a", "b")]
    result = pairwise_matrix(Answers.from_triples(triples))
    assert result.shared[0, 1] == 4
    assert math.isnan(result.values[0, 1])


# --- distances -----------------------------------------------------------------------------------


def test_set_distances() -> None:
    assert jaccard_distance(("a", "b"), ("a", "b")) == 0
    assert jaccard_distance((), ()) == 0
    assert jaccard_distance(("a",), ("b",)) == 1
    assert jaccard_distance(("a", "b"), ("a", "c")) == pytest.approx(2 / 3)
    assert masi_distance(("a", "b"), ("a", "b")) == 0
    assert masi_distance(("a", "b"), ("a", "b", "c")) == pytest.approx(1 - 2 / 3 * 2 / 3)
    assert masi_distance(("a", "b"), ("a", "c")) == pytest.approx(1 - 1 / 3 * 1 / 3)
    assert masi_distance(("a",), ("b",)) == 1
    assert masi_distance((), ("b",)) == 1


def test_kendall_tau_distance() -> None:
    assert kendall_tau_distance(("a", "b", "c"), ("a", "b", "c")) == 0
    assert kendall_tau_distance(("a", "b", "c"), ("c", "b", "a")) == 1
    assert kendall_tau_distance(("a", "b", "c"), ("b", "a", "c")) == pytest.approx(1 / 3)
    assert kendall_tau_distance(("a",), ("a",)) == 0
    with pytest.raises(ValueError, match="must order the same options"):
        kendall_tau_distance(("a", "b"), ("a", "c"))


def test_level_for_question_types() -> None:
    assert level_for("label") == "nominal"
    assert level_for("rating") == "interval"
    assert level_for("multi_label") is masi_distance
    assert level_for("ranking") is kendall_tau_distance
    with pytest.raises(ValueError, match="no agreement distance for question type 'span'"):
        level_for("span")


# --- bad input: a named rule, never a numpy traceback ------------------------------------------

EMPTY = Answers.from_triples([])
SINGLES = Answers.from_triples([(i, i, i % 2) for i in range(5)])
SAME = Answers.from_triples([(i, w, "yes") for i in range(5) for w in range(3)])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: krippendorff_alpha(EMPTY), "no answers"),
        (lambda: percent_agreement(EMPTY), "no answers"),
        (lambda: fleiss_kappa_answers(EMPTY), "no answers"),
        (lambda: krippendorff_alpha(SINGLES), "no item has 2 or more answers"),
        (lambda: percent_agreement(SINGLES), "no item has 2 or more answers"),
        (lambda: fleiss_kappa_answers(SINGLES), "2 or more ratings per item"),
        (lambda: agreement_interval(SINGLES, percent_agreement), "no item has 2 or more"),
        (lambda: krippendorff_alpha(SAME), "all 15 pairable answers are 'yes'"),
        (lambda: krippendorff_alpha(SAME, masi_distance), "all 15 pairable answers"),
        (lambda: fleiss_kappa_answers(SAME), "every rating is the same category"),
        (lambda: cohen_kappa(["a", "a"], ["a", "a"]), "one and the same label"),
        (lambda: cohen_kappa([None, 1], [2, None]), "no position where both raters"),
        (lambda: krippendorff_alpha([[1, None], [None, 2]]), "no item has 2 or more answers"),
    ],
)
def test_undefined_agreement_names_the_rule(call: Callable[[], object], message: str) -> None:
    with pytest.raises(AgreementUndefined, match=message):
        call()


def test_same_value_everywhere_is_still_perfect_percent_agreement() -> None:
    assert percent_agreement(SAME) == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: fleiss_kappa([[1, 2], [3, 1], [0, 3]]),
            r"rows \[1\] have \['4'\] while the other 2",
        ),
        (
            lambda: fleiss_kappa_answers(Answers.from_triples([(0, 0, 1), (0, 1, 1), (1, 0, 1)])),
            r"rows \['item 1'\]",
        ),
        (lambda: fleiss_kappa([[1, -1]]), ">= 0"),
        (lambda: fleiss_kappa([1, 2, 3]), "items x categories"),
        (lambda: cohen_kappa([1, 2], [1]), "aligned sequences"),
        (lambda: cohen_kappa([1, 2], [1, 3], values=[1, 2]), "not in"),
        (lambda: cohen_kappa([1, 2], [1, 2], weights="cubic"), "weights 'cubic'"),  # type: ignore[arg-type]
        (lambda: krippendorff_alpha([[1, 2], [1, 3]], "cubic"), "level 'cubic'"),  # type: ignore[arg-type]
        (lambda: krippendorff_alpha([["a", "b"], ["a", "c"]], "interval"), "numeric values"),
        (lambda: krippendorff_alpha([[1, 2, 3], [1, 2]]), "rows .* of equal length"),
        (lambda: krippendorff_alpha(np.zeros((2, 2, 2))), "2-D"),
    ],
)
def test_bad_input_raises_value_error_naming_the_rule(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_ordinal_needs_ordered_values() -> None:
    answers = Answers.from_triples([(0, 0, "lo"), (0, 1, "hi"), (1, 0, "mid"), (1, 1, "lo")])
    reordered = Answers.from_triples(
        [(0, 0, "lo"), (0, 1, "hi"), (1, 0, "mid"), (1, 1, "lo")], values=["lo", "mid", "hi"]
    )
    with pytest.raises(ValueError, match="values in their order"):
        krippendorff_alpha(reordered, "ordinal")
    assert math.isfinite(krippendorff_alpha(answers, "ordinal"))  # sorted strings are in order


def test_large_input_uses_the_same_formulas() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 6, 20_000)
    matrix = np.where(rng.random((3, 20_000)) < 0.7, truth, rng.integers(1, 6, (3, 20_000)))
    matrix = np.where(rng.random((3, 20_000)) < 0.1, np.nan, matrix)
    answers = as_answers(matrix)
    assert krippendorff_alpha(answers, "interval") == pytest.approx(
        krippendorff_alpha(answers, interval_distance)
    )
    assert krippendorff_alpha(answers, "nominal") == pytest.approx(
        krippendorff_alpha(answers, nominal_distance)
    )
