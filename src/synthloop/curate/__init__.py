"""Curation: throw out what is broken or repeated before a human spends a minute on it.

See `base` for the step contract; `steps` holds the built-in steps.
"""

from synthloop.curate.base import (
    Context,
    Doc,
    Rejection,
    Step,
    StepOptions,
    StepResult,
    get_step,
    register_step,
    step_names,
)

__all__ = [
    "Context",
    "Doc",
    "Rejection",
    "Step",
    "StepOptions",
    "StepResult",
    "get_step",
    "register_step",
    "step_names",
]
