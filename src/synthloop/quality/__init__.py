"""Quality: agreement between annotators, aggregation of their answers, annotator reliability."""

from synthloop.quality.answers import Answers

__all__ = ["Answers"]
