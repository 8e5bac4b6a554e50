"""The `language` step: reject records written in a language outside an allow-list.

Detection is lingua's (`lingua-language-detector`): its n-gram models ship inside the wheel, so
nothing downloads and the step runs offline. A detector can only answer with a language it was
built from, so it is built from *candidates* (the allowed languages plus a set of widely written
ones), not from the allow-list alone: a detector built from English and German would call French
text one of the two. Through this step on 10k texts of 2-6 sentences on a 2-core machine, all
75 of lingua's languages cost ~1.1 GB of memory and ~300-400 records/s; the default 25
candidates ~0.6 GB and ~1,900 records/s on first use (models loading), ~2,900 after.
`candidates: all` is there for corpora in rarer languages.

Confidence is lingua's probability of the top language among the candidates (they sum to 1), so
it is relative to the candidate set. A text shorter than `min_chars`, or whose top confidence is
below `min_confidence`, is *undetermined*: kept (or rejected with `keep_undetermined: false`) and
noted as such, since a guess there would throw away good records at random.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, Literal

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder
from pydantic import Field, field_validator

from synthloop.curate.base import (
    Context,
    Doc,
    Rejection,
    Step,
    StepOptions,
    StepResult,
    register_step,
)

__all__ = ["DEFAULT_CANDIDATES", "UNDETERMINED", "LanguageOptions", "LanguageStep"]

UNDETERMINED = "undetermined"

# The most widely written languages lingua knows, across scripts; a text in a language outside
# this set is called one of these (usually with a low confidence).
# fmt: off
DEFAULT_CANDIDATES = (
    "ar", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fr", "he", "hi", "id",
    "it", "ja", "ko", "nl", "pl", "pt", "ru", "sv", "tr", "uk", "vi", "zh",
)
# fmt: on
_KNOWN = {lang.iso_code_639_1.name.lower(): lang for lang in Language.all()}


def _check_codes(codes: list[str], what: str) -> list[str]:
    clean = [c.strip().lower() for c in codes]
    unknown = [c for c in clean if c not in _KNOWN]
    if unknown:
        raise ValueError(
            f"{what}: {', '.join(repr(c) for c in unknown)} "
            f"{'is not an ISO 639-1 code' if len(unknown) == 1 else 'are not ISO 639-1 codes'} "
            f"of a language the detector knows; use two-letter codes from: "
            f"{', '.join(sorted(_KNOWN))}"
        )
    return clean


class LanguageOptions(StepOptions):
    allow: list[str] = Field(
        min_length=1,
        description="ISO 639-1 codes of the languages to keep, e.g. [en, de].",
    )
    min_confidence: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Below this top-language probability the language is undetermined.",
    )
    min_chars: int = Field(
        20, ge=0, description="Texts shorter than this (stripped) are undetermined."
    )
    keep_undetermined: bool = Field(
        True, description="Keep records whose language cannot be told (noted as undetermined)."
    )
    candidates: list[str] | Literal["all"] = Field(
        default_factory=lambda: list(DEFAULT_CANDIDATES),
        description="Languages the detector chooses among (the allowed ones are always added); "
        "`all` for lingua's 75, at ~1.1 GB of memory and a seventh of the speed.",
    )
    low_accuracy: bool = Field(
        False,
        description="lingua's low-accuracy mode: less memory and faster, worse under 120 chars.",
    )

    @field_validator("allow")
    @classmethod
    def _allow_codes(cls, value: list[str]) -> list[str]:
        return _check_codes(value, "allow")

    @field_validator("candidates")
    @classmethod
    def _candidate_codes(cls, value: list[str] | str) -> list[str] | str:
        return value if isinstance(value, str) else _check_codes(value, "candidates")


@cache
def _detector(codes: frozenset[str] | None, low_accuracy: bool) -> LanguageDetector:
    """One detector per configuration for the process: lingua loads its models lazily and
    shares them between detectors, but building one per batch would still redo the work."""
    builder = (
        LanguageDetectorBuilder.from_all_languages()
        if codes is None
        else LanguageDetectorBuilder.from_iso_codes_639_1(
            *(getattr(IsoCode639_1, c.upper()) for c in sorted(codes))
        )
    )
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    return builder.build()


@register_step
class LanguageStep(Step):
    """Keep records in an allowed language; note the language and confidence of the rest."""

    name = "language"
    per_doc = True
    options = LanguageOptions
    config: LanguageOptions

    def _detector(self) -> LanguageDetector:
        cfg = self.config
        codes = None if cfg.candidates == "all" else frozenset([*cfg.candidates, *cfg.allow])
        return _detector(codes, cfg.low_accuracy)

    def run(self, docs: Sequence[Doc], context: Context) -> StepResult:
        result = StepResult()
        texts = [doc.text.strip() for doc in docs]
        judged = [i for i, t in enumerate(texts) if len(t) >= self.config.min_chars]
        # One call over the batch: lingua spreads it over the idle cores (twice the serial rate
        # on 2 cores).
        values = self._detector().compute_language_confidence_values_in_parallel(
            [texts[i] for i in judged]
        )
        found: dict[int, tuple[str, float]] = {}
        for i, confidences in zip(judged, values, strict=True):
            top = confidences[0] if confidences else None
            if top is not None and top.value >= self.config.min_confidence:
                found[i] = (top.language.iso_code_639_1.name.lower(), round(top.value, 4))
        for i, doc in enumerate(docs):
            self._decide(doc, found.get(i), result)
        return result

    def _decide(self, doc: Doc, found: tuple[str, float] | None, result: StepResult) -> None:
        cfg = self.config
        language, confidence = found if found else (UNDETERMINED, None)
        result.counts[language] += 1
        details: dict[str, Any] = {"language": language, "confidence": confidence}
        if not cfg.keep_undetermined if found is None else language not in cfg.allow:
            result.rejected[doc.id] = Rejection("language", {**details, "allowed": cfg.allow})
        else:
            result.notes[doc.id] = details
