"""Routing under a budget: which pending records humans see, which are accepted on the
machines' word, and how wrong those acceptances are estimated to be.

`route` splits a dataset's pending records into accepted (suggestions clear the threshold),
an audit sample of those queued for humans anyway, records chosen for humans by the strategies,
and records left pending; `estimate_error` reads the audit answers back as an error rate with
its 95% interval. The details are in `_route`, `_answers`, `_diversity` and `_estimate`.
"""

from synthloop.route._answers import CONFIDENCE_TYPES
from synthloop.route._estimate import ErrorEstimate, estimate_error
from synthloop.route._route import (
    DEFAULT_THRESHOLD,
    STRATEGIES,
    RouteReport,
    parse_strategies,
    route,
)

__all__ = [
    "CONFIDENCE_TYPES",
    "DEFAULT_THRESHOLD",
    "STRATEGIES",
    "ErrorEstimate",
    "RouteReport",
    "estimate_error",
    "parse_strategies",
    "route",
]
