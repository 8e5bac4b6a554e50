"""The built-in tasks; importing this module registers them."""

from synthloop.generate.tasks.library import (
    dialogue,
    edge_cases,
    evolve,
    judge,
    prelabel,
    qa_from_documents,
    responses,
    self_instruct,
    translate,
)

__all__ = [
    "dialogue",
    "edge_cases",
    "evolve",
    "judge",
    "prelabel",
    "qa_from_documents",
    "responses",
    "self_instruct",
    "translate",
]
