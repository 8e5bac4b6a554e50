"""PII detection on 10,000 mixed texts: synthloop's detector against Presidio's recognisers.

    .venv/bin/python bench/curate_pii.py                  # 10k texts, both detectors
    .venv/bin/python bench/curate_pii.py --texts 2000     # a smaller smoke run
    .venv/bin/python bench/curate_pii.py --no-presidio    # synthloop only

About half the texts carry 1-4 planted items of known type and span (from the offline `pii`
augmentation, plus URLs, IPv6 addresses and other phone, card and IBAN layouts); every text
carries distractors: years, prices, order numbers, version strings, dates, times, ISBNs and plain
numbers. An item counts as found when a detection of its type overlaps it; precision is the share
of detections that overlap an item of their type; a false flag is a PII-free text with any
detection. Person names are left out: neither detector has an NER model here.

Presidio runs in its own environment, bench/.data/venv-presidio (created on first use), in a
subprocess, with a blank spaCy pipeline (`spacy.blank("en")`) so no model is downloaded, and
tldextract held to its bundled suffix list so nothing is fetched. If it cannot be installed the
script says why and skips it. Figures are medians of the repeats; nothing passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from synthloop.curate.pii_detect import detect
from synthloop.generate.offline.pii import iban_check_digits, luhn_check_digit, pii

TYPES = ("email", "phone", "credit_card", "iban", "ip_address", "url", "us_ssn")
PRESIDIO_VENV = Path(__file__).parent / ".data" / "venv-presidio"
FORBIDDEN = ("nvidia-", "triton", "cuda")  # never a CUDA build in a bench environment
# The offline augmentation's type names -> the step's.
GENERATED = {"ip": "ip_address", "ssn": "us_ssn"}

Span = tuple[str, int, int]


@dataclass(frozen=True)
class Sample:
    text: str
    items: list[Span]


# ----------------------------------------------------------------------------- the texts

_FILLER = (
    "the customer asked about delivery refund account billing invoice please thanks we will "
    "check your request again tomorrow shipping arrived late payment team support update "
    "order number meeting notes price total box item store"
)
_WORDS = _FILLER.split()


def _distractor(rng: random.Random) -> str:
    makers: list[Callable[[], str]] = [
        lambda: f"in {rng.randint(1950, 2030)}",
        lambda: f"${rng.randint(1, 9)},{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}",
        lambda: f"€{rng.randint(1, 500)}.{rng.randint(0, 99):02d}",
        lambda: f"order #{rng.randint(10**7, 10**10)}",
        lambda: f"order {rng.randint(10**5, 10**8)}",
        lambda: f"v{rng.randint(0, 20)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
        lambda: f"version {rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.0",
        lambda: f"{rng.randint(2000, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        lambda: f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(2000, 2030)}",
        lambda: f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(2000, 2030)}",
        lambda: f"at {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        lambda: f"ISBN 978-{rng.randint(0, 9)}-{rng.randint(10, 99)}-{rng.randint(10**5, 10**6)}-0",
        lambda: str(rng.randint(0, 10**7)),
        lambda: f"{rng.randint(1, 99)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}",
        lambda: f"{rng.randint(0, 99)}.{rng.randint(0, 99999)}",
        lambda: f"{rng.randint(1, 9)} x {rng.randint(1, 999)} ml",
        lambda: f"room {rng.randint(100, 999)}-{rng.randint(10, 99)}",
    ]
    return rng.choice(makers)()


def _base(rng: random.Random) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(15, 60)))
    return text[0].upper() + text[1:] + "."


def _extra(rng: random.Random) -> tuple[str, str]:
    """An item in a layout the offline augmentation does not make: (type, value)."""
    card = rng.choice(["4", "51", "2221", "6011"])
    card += "".join(str(rng.randint(0, 9)) for _ in range(15 - len(card)))
    card += luhn_check_digit(card)
    amex = "37" + "".join(str(rng.randint(0, 9)) for _ in range(12))
    amex += luhn_check_digit(amex)
    bban = "".join(str(rng.randint(0, 9)) for _ in range(18))
    iban = "DE" + iban_check_digits("DE", bban) + bban
    area, exchange, line = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    choices = [
        ("url", f"https://www.example.org/u/{rng.randint(1, 999)}?ref=mail"),
        ("url", f"http://example.com/{rng.choice(_WORDS)}"),
        ("url", f"www.example.net/{rng.choice(_WORDS)}/{rng.randint(1, 99)}"),
        ("ip_address", f"2001:db8:{rng.randint(1, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"),
        ("ip_address", f"fe80::{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}"),
        ("phone", f"{area}-{exchange}-{line:04d}"),
        ("phone", f"({area}) {exchange}-{line:04d}"),
        ("phone", f"+44 20 {rng.randint(7000, 8999)} {rng.randint(1000, 9999)}"),
        ("phone", f"+49 30 {rng.randint(1000000, 9999999)}"),
        ("phone", f"020 {rng.randint(7000, 8999)} {rng.randint(1000, 9999)}"),
        ("credit_card", "-".join(card[i : i + 4] for i in range(0, 16, 4))),
        ("credit_card", card),
        ("credit_card", f"{amex[:4]} {amex[4:10]} {amex[10:]}"),
        ("iban", " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))),
        (
            "us_ssn",
            f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}",
        ),
        ("email", f"{rng.choice(_WORDS)}+{rng.randint(1, 9)}@mail.example.co.uk"),
    ]
    return rng.choice(choices)


def _insert(sample: Sample, kind: str, value: str, rng: random.Random) -> Sample:
    """`value` put in at a space of the text that is not inside an item, spans shifted."""
    text, items = sample.text, sample.items
    spaces = [i for i, c in enumerate(text) if c == " " and not _inside(i, items)]
    at = rng.choice(spaces)
    shift = len(value) + 1
    moved = [(k, s + shift, e + shift) if s > at else (k, s, e) for k, s, e in items]
    new = text[: at + 1] + value + " " + text[at + 1 :]
    return Sample(new, sorted([*moved, (kind, at + 1, at + 1 + len(value))], key=lambda x: x[1]))


def _inside(i: int, items: list[Span]) -> bool:
    return any(s <= i < e for _, s, e in items)


def corpus(size: int, seed: int) -> list[Sample]:
    """Texts of words, every second one with planted items, then distractors put in around
    them (never inside an item or another distractor)."""
    rng = random.Random(seed)
    samples = []
    for i in range(size):
        sample = Sample(_base(rng), [])
        if i % 2 == 0:
            made = pii(sample.text, rng, count=rng.randint(1, 3))
            items = [(GENERATED.get(p["type"], p["type"]), *p["span"]) for p in made.pii]
            sample = Sample(made.text, items)
            if rng.random() < 0.6:
                sample = _insert(sample, *_extra(rng), rng)
        for _ in range(rng.randint(1, 4)):
            sample = _insert(sample, "", _distractor(rng), rng)
        samples.append(Sample(sample.text, [item for item in sample.items if item[0]]))
    return samples


# ----------------------------------------------------------------------------- scoring


def score(samples: list[Sample], predicted: list[list[Span]]) -> dict[str, object]:
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    right = flagged_clean = exact = 0
    for sample, spans in zip(samples, predicted, strict=True):
        for kind, start, end in sample.items:
            total[kind] += 1
            hits = [p for p in spans if p[0] == kind and p[1] < end and start < p[2]]
            found[kind] += bool(hits)
            exact += (kind, start, end) in spans
        right += sum(
            any(k == p[0] and s < p[2] and p[1] < e for k, s, e in sample.items) for p in spans
        )
        flagged_clean += not sample.items and bool(spans)
    n_predicted = sum(map(len, predicted))
    return {
        "recall": {k: found[k] / total[k] for k in TYPES if total[k]},
        "items": dict(total),
        "exact": exact / max(1, sum(total.values())),
        "precision": right / max(1, n_predicted),
        "false_flags": flagged_clean,
        "clean": sum(not s.items for s in samples),
    }


def report(name: str, scores: dict[str, object], seconds: float, n: int, repeats: int) -> None:
    recall = scores["recall"]
    assert isinstance(recall, dict)
    print(f"{name}: {n / seconds:,.0f} records/s (median of {repeats}, {seconds:.2f} s)")
    print("  recall " + ", ".join(f"{k} {v:.3f}" for k, v in recall.items()))
    print(
        f"  precision {scores['precision']:.3f}, exact spans {scores['exact']:.3f}, "
        f"false flags on PII-free texts {scores['false_flags']} of {scores['clean']}"
    )


# ----------------------------------------------------------------------------- synthloop


def bench_synthloop(samples: list[Sample], repeats: int) -> None:
    times = []
    predicted: list[list[Span]] = []
    for _ in range(repeats):
        start = time.perf_counter()
        predicted = [[(f.type, f.start, f.end) for f in detect(s.text, TYPES)] for s in samples]
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    report("synthloop pii_detect", score(samples, predicted), seconds, len(samples), repeats)


# ----------------------------------------------------------------------------- Presidio

PRESIDIO_RUN = textwrap.dedent(
    """
    import json, statistics, sys, time
    import spacy, tldextract
    # The email recogniser asks tldextract, which would fetch the public suffix list: use the
    # snapshot it ships.
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    from importlib.metadata import version
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank:en"}])
    nlp.nlp = {"en": spacy.blank("en")}  # instead of load(): nothing to download
    engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    names = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "credit_card",
             "IBAN_CODE": "iban", "IP_ADDRESS": "ip_address", "URL": "url", "US_SSN": "us_ssn"}
    texts = json.load(open(sys.argv[1]))
    times = []
    for _ in range(int(sys.argv[2])):
        start = time.perf_counter()
        out = [[[names[r.entity_type], r.start, r.end]
                for r in engine.analyze(t, language="en", entities=list(names))] for t in texts]
        times.append(time.perf_counter() - start)
    print(json.dumps({"seconds": statistics.median(times), "spans": out,
                      "version": version("presidio-analyzer"), "spacy": spacy.__version__}))
    """
)


def presidio_python() -> Path:
    """The bench venv's python with presidio-analyzer, or RuntimeError saying why not."""
    python = PRESIDIO_VENV / "bin" / "python"
    if python.exists() and _run([str(python), "-c", "import presidio_analyzer"], False) == 0:
        return python
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(PRESIDIO_VENV)])
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q"]
    with tempfile.NamedTemporaryFile(suffix=".json") as plan:
        _run([*pip, "install", "--dry-run", "--report", plan.name, "presidio-analyzer"])
        names = [
            e["metadata"]["name"].lower()
            for e in json.loads(Path(plan.name).read_text())["install"]
        ]
    if any(n.startswith(FORBIDDEN) for n in names):
        raise RuntimeError(f"presidio-analyzer would pull CUDA packages ({names}); not installing")
    _run([*pip, "install", "presidio-analyzer"])
    return python


def _run(command: list[str], check: bool = True) -> int:
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"`{' '.join(command[:6])} ...` failed: {' | '.join(tail)}")
    return done.returncode


def bench_presidio(samples: list[Sample], repeats: int) -> None:
    try:
        python = presidio_python()
    except (RuntimeError, OSError) as exc:
        print(f"Presidio: skipped ({exc})")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".json") as texts:
        json.dump([s.text for s in samples], texts)
        texts.flush()
        done = subprocess.run(
            [str(python), "-c", PRESIDIO_RUN, texts.name, str(repeats)],
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    if done.returncode:
        print(f"Presidio: failed ({done.stderr.strip().splitlines()[-1:]})")
        return
    result = json.loads(done.stdout.strip().splitlines()[-1])
    predicted = [_without_overlaps([(k, s, e) for k, s, e in spans]) for spans in result["spans"]]
    name = f"Presidio {result['version']} (spaCy {result['spacy']} blank pipeline)"
    report(name, score(samples, predicted), result["seconds"], len(samples), repeats)


def _without_overlaps(spans: list[Span]) -> list[Span]:
    """Presidio reports overlapping results of different types; keep them as synthloop does."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s[1], s[1] - s[2])):
        if not kept or span[1] >= kept[-1][2]:
            kept.append(span)
    return kept


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu}, {os.cpu_count()} cores | Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presidio-repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-presidio", action="store_true")
    args = parser.parse_args()
    print(machine())
    samples = corpus(args.texts, args.seed)
    items = Counter(k for s in samples for k, _, _ in s.items)
    print(
        f"data: {len(samples):,} texts (seed {args.seed}), {sum(not s.items for s in samples):,} "
        f"without PII; planted items: " + ", ".join(f"{k} {items[k]}" for k in TYPES)
    )
    bench_synthloop(samples, args.repeats)
    if not args.no_presidio:
        bench_presidio(samples, args.presidio_repeats)


if __name__ == "__main__":
    main()
