"""The built-in curation steps; importing this package registers them."""

from synthloop.curate.steps import decontaminate, dedup, language, pii, rules, semantic

__all__ = ["decontaminate", "dedup", "language", "pii", "rules", "semantic"]
