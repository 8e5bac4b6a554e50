"""Pre-labels from a small classifier trained on the seeds: a first guess on every new record.

The router needs a machine answer with a confidence on each pending record to decide what goes
to people. With no model at hand (the offline demo, CI) that answer comes from multinomial naive
Bayes over word unigrams and bigrams, in numpy: it trains in milliseconds on a hundred seeds and
reaches a useful accuracy on short support requests (see tests/test_prelabel.py on banking77).

Naive Bayes is overconfident (it multiplies evidence as if every word were independent), and the
router reads the probability as a confidence. So `train` fits one temperature on a held-out
fifth of the data (the one minimising log loss) and keeps it; probabilities are
softmax(log-joint / temperature).
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import insert

from synthloop.errors import SynthloopError
from synthloop.settings import LabelQuestion
from synthloop.store import tables as t
from synthloop.store.dataset import Dataset

__all__ = ["AGENT", "Classifier", "features", "prelabel", "train"]

AGENT = "classifier:nb"
_WORD = re.compile(r"\w+")
_TEMPERATURES = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
_HELD_OUT = 0.2

Floats = npt.NDArray[np.float64]


def features(text: str) -> list[str]:
    """Lowercased words and adjacent word pairs."""
    words = _WORD.findall(text.lower())
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


@dataclass
class Classifier:
    """Multinomial naive Bayes: class log priors, per-class feature log likelihoods over a
    vocabulary, and the temperature that calibrates its probabilities."""

    labels: list[str]
    vocabulary: dict[str, int]
    log_prior: Floats
    log_likelihood: Floats  # (classes, vocabulary)
    temperature: float = 1.0
    agent: str = AGENT

    def predict_proba(self, texts: Sequence[str]) -> Floats:
        """(texts, labels) probabilities, columns in the order of `labels`; rows sum to 1."""
        joint = np.empty((len(texts), len(self.labels)))
        for i, text in enumerate(texts):
            ids = [self.vocabulary[f] for f in features(text) if f in self.vocabulary]
            joint[i] = self.log_prior + self.log_likelihood[:, ids].sum(axis=1)
        return _softmax(joint / self.temperature)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=1)]


def train(
    texts: Sequence[str], labels: Sequence[str], *, alpha: float = 0.1, seed: int = 0
) -> Classifier:
    """Fit naive Bayes (Laplace smoothing `alpha`) and calibrate it: the temperature is chosen
    on a seeded held-out fifth, then the model is refitted on everything."""
    if len(texts) != len(labels):
        raise SynthloopError(f"{len(texts)} texts but {len(labels)} labels; give one label each")
    if len(set(labels)) < 2:
        raise SynthloopError(
            f"training needs at least two distinct labels, got {sorted(set(labels))}"
        )
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    cut = int(len(order) * _HELD_OUT)
    held, fit = order[:cut], order[cut:]
    temperature = 1.0
    if held and len({labels[i] for i in fit}) >= 2:
        model = _fit([texts[i] for i in fit], [labels[i] for i in fit], alpha)
        temperature = _calibrate(model, [texts[i] for i in held], [labels[i] for i in held])
    model = _fit(texts, labels, alpha)
    model.temperature = temperature
    return model


def _fit(texts: Sequence[str], labels: Sequence[str], alpha: float) -> Classifier:
    classes = sorted(set(labels))
    index = {label: i for i, label in enumerate(classes)}
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for text, label in zip(texts, labels, strict=True):
        for feature in features(text):
            rows.append(index[label])
            cols.append(vocabulary.setdefault(feature, len(vocabulary)))
    counts = np.zeros((len(classes), max(len(vocabulary), 1)))
    np.add.at(counts, (np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)), 1.0)
    smoothed = counts + alpha
    log_likelihood = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
    prior = np.array([labels.count(c) for c in classes], dtype=np.float64)
    return Classifier(classes, vocabulary, np.log(prior / prior.sum()), log_likelihood)


def _calibrate(model: Classifier, texts: Sequence[str], labels: Sequence[str]) -> float:
    """The temperature with the least log loss on the held-out texts."""
    model.temperature = 1.0
    logits = np.log(np.clip(model.predict_proba(texts), 1e-300, None))
    known = [i for i, label in enumerate(labels) if label in model.labels]
    if not known:
        return 1.0
    truth = np.array([model.labels.index(labels[i]) for i in known])
    logits = logits[known]

    def loss(temperature: float) -> float:
        probs = _softmax(logits / temperature)
        return float(-np.log(np.clip(probs[np.arange(len(truth)), truth], 1e-12, None)).mean())

    return min(_TEMPERATURES, key=loss)


def _softmax(logits: Floats) -> Floats:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float64)


# ---------------------------------------------------------------- writing suggestions


def prelabel(dataset: Dataset, question: str, classifier: Classifier, field: str) -> int:
    """Suggest an answer to label question `question` for every pending record that has no
    suggestion for it yet: the classifier's most probable label on the text of `field`, with
    that probability as the score and the classifier's agent. All in one transaction; returns
    how many records got one."""
    _check(dataset, question, classifier, field)
    todo = [
        r
        for r in dataset.records(status="pending")
        if question not in r.suggestions and isinstance(r.fields.get(field), str)
    ]
    if not todo:
        return 0
    probs = classifier.predict_proba([r.fields[field] for r in todo])
    best = probs.argmax(axis=1)
    rows: list[dict[str, Any]] = [
        {
            "record_id": record.id,
            "question": question,
            "value": classifier.labels[int(k)],
            "score": round(float(probs[i, k]), 6),
            "agent": classifier.agent,
        }
        for i, (record, k) in enumerate(zip(todo, best, strict=True))
    ]
    with dataset.engine.begin() as conn:
        conn.execute(insert(t.suggestions), rows)
    return len(rows)


def _check(dataset: Dataset, question: str, classifier: Classifier, field: str) -> None:
    labels = {q.name: q for q in dataset.settings.questions if type(q) is LabelQuestion}
    target = labels.get(question)
    if target is None:
        raise SynthloopError(
            f"question {question!r} is not a label question of dataset {dataset.name!r} "
            f"(label questions: {', '.join(labels) or 'none'}); pre-label one of them"
        )
    unknown = [label for label in classifier.labels if label not in target.labels]
    if unknown:
        raise SynthloopError(
            f"the classifier predicts {unknown}, which question {question!r} does not offer "
            f"(its labels: {target.labels}); train it on labels of that question only"
        )
    names = [f.name for f in dataset.settings.fields]
    if field not in names:
        raise SynthloopError(
            f"field {field!r} is not a field of dataset {dataset.name!r} (fields: "
            f"{', '.join(names)}); pass the text field to classify"
        )
