"""Small inline SVG charts: the report is one file that makes no request, so no chart library
and no images. Every label is escaped here; the result is Markup for the template to embed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

__all__ = ["PALETTE", "bars", "histogram", "stacked_bars"]

# Colour-blind safe (Okabe-Ito), then greys for long value lists.
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
    "#777777", "#AAAAAA",
)  # fmt: skip
_WIDTH = 640
_LABEL = 150  # room for row labels on the left
_ROW = 22


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _svg(height: int, body: list[str], title: str) -> Markup:
    head = (
        f'<svg class="chart" role="img" width="{_WIDTH}" '
        f'height="{height}" viewBox="0 0 {_WIDTH} {height}"><title>{escape(title)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")  # safe: every text below went through escape


def _text(x: float, y: float, text: object, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
        f"{escape(str(text))}</text>"
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" fill="{fill}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _legend(keys: Sequence[str], y: float) -> list[str]:
    body, x = [], float(_LABEL)
    for i, key in enumerate(keys):
        body.append(_rect(x, y - 10, 10, 10, colour(i), key))
        body.append(_text(x + 14, y, key))
        x += 24 + 7 * len(key)
    return body


def stacked_bars(
    rows: Sequence[tuple[str, Mapping[str, int]]], keys: Sequence[str], title: str
) -> Markup:
    """One 100% bar per row, split by key in `keys` order; the row's total at its end."""
    span = _WIDTH - _LABEL - 60
    body = _legend(keys, 14)
    for r, (label, counts) in enumerate(rows):
        y = 26 + r * _ROW
        total = sum(counts.get(k, 0) for k in keys)
        body.append(_text(_LABEL - 6, y + 13, _short(label), "end"))
        x = float(_LABEL)
        for i, key in enumerate(keys):
            n = counts.get(key, 0)
            if total and n:
                w = span * n / total
                body.append(_rect(x, y, w, _ROW - 6, colour(i), f"{label}: {key} {n} of {total}"))
                x += w
        body.append(_text(_LABEL + span + 6, y + 13, f"n={total}"))
    return _svg(30 + len(rows) * _ROW, body, title)


def bars(rows: Sequence[tuple[str, float]], title: str, share: bool = False) -> Markup:
    """Horizontal bars from a zero line; negative values go left of it (a diverging chart).
    With `share`, values are shares drawn on a 0..1 scale and labelled as percentages."""
    values = [v for _, v in rows]
    low, high = (0.0, 1.0) if share else (min([0.0, *values]), max([0.0, *values]))
    span, extent = _WIDTH - _LABEL - 70, (high - low) or 1.0
    zero = _LABEL + span * (-low / extent)
    body = []
    for r, (label, value) in enumerate(rows):
        y = 6 + r * _ROW
        w = span * abs(value) / extent
        shown = f"{100 * value:.1f}%" if share else f"{value:+.3g}"
        body.append(_text(_LABEL - 6, y + 13, _short(label), "end"))
        body.append(
            _rect(
                zero if value >= 0 else zero - w,
                y,
                w,
                _ROW - 6,
                colour(5 if value < 0 else 0),
                shown,
            )
        )
        body.append(_text(_LABEL + span + 6, y + 13, shown))
    bottom = 8 + len(rows) * _ROW
    body.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="2" y2="{bottom}" stroke="#333"/>')
    return _svg(12 + len(rows) * _ROW, body, title)


def histogram(edges: Sequence[int], series: Mapping[str, Sequence[int]], title: str) -> Markup:
    """Bins side by side, one bar per series in each; heights are each series' share of its own
    total, so sources of different sizes compare."""
    height, top, bottom = 180, 24, 30
    plot_w = _WIDTH - 50
    names = list(series)
    slot = plot_w / max(len(edges) - 1, 1)
    bar_w = (slot - 4) / max(len(names), 1)
    shares = {n: [c / (sum(v) or 1) for c in v] for n, v in series.items()}
    peak = max([s for v in shares.values() for s in v] or [0]) or 1.0
    body = _legend(names, 14)
    for b in range(len(edges) - 1):
        x0 = 40 + b * slot
        for i, name in enumerate(names):
            share = shares[name][b]
            h = (height - top - bottom) * share / peak
            tip = f"{name}: {series[name][b]} texts of {edges[b]}-{edges[b + 1] - 1} characters"
            body.append(_rect(x0 + 2 + i * bar_w, height - bottom - h, bar_w, h, colour(i), tip))
        body.append(_text(x0, height - bottom + 14, edges[b], "middle", 10))
    body.append(_text(40 + (len(edges) - 1) * slot, height - bottom + 14, edges[-1], "middle", 10))
    body.append(_text(_WIDTH / 2, height - 4, "characters", "middle", 11))
    return _svg(height, body, title)


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
