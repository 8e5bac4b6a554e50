"""Generation that needs no model: slot templates and rule-based augmentation.

Both return rows for `Dataset.add` with deterministic ids and their recipe in provenance, so a
re-run adds nothing new.
"""

from synthloop.generate.offline.augment import augment
from synthloop.generate.offline.pii import PII_TYPES, iban_check_digits, luhn_check_digit
from synthloop.generate.offline.registry import (
    Augmentation,
    Augmented,
    AugmentError,
    names,
    register,
)
from synthloop.generate.offline.templates import MODES, TemplateError, expand

__all__ = [
    "MODES",
    "PII_TYPES",
    "AugmentError",
    "Augmentation",
    "Augmented",
    "TemplateError",
    "augment",
    "expand",
    "iban_check_digits",
    "luhn_check_digit",
    "names",
    "register",
]
