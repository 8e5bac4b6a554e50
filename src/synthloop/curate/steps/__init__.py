"""The built-in curation steps; importing this package registers them."""

from synthloop.curate.steps import decontaminate, language, pii, rules

__all__ = ["decontaminate", "language", "pii", "rules"]
