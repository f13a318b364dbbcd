"""Server-rendered SVG line charts for the clearinghouse dashboard (pages work without JavaScript).

Pure: numbers in, one ``<svg>`` string out. Every label is XML-escaped here (the template marks the
result safe), so an advisory id or sector name cannot inject markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from xml.sax.saxutils import escape, quoteattr

__all__ = ["PALETTE", "line_chart"]

#: Colours distinguishable in print and by most colour-blind readers (Okabe-Ito).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


def _nice_max(value: int) -> int:
    """The smallest 1-2-5 step value not below *value* (at least 1)."""
    if value <= 1:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10


def line_chart(
    days: Sequence[date],
    series: Mapping[str, Sequence[int]],
    *,
    title: str,
    width: int = 640,
    height: int = 240,
) -> str:
    """A line per series over *days* (each series has one value per day), with a legend, axis
    labels, and a ``<title>`` per point for its exact value."""
    left, right, top, bottom = 48, 150, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((v for values in series.values() for v in values), default=0))
    n = len(days)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return top + plot_h - plot_h * v / peak

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" role="img" aria-label={quoteattr(title)} class="chart">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for k in range(5):  # horizontal grid with values
        v = peak * k // 4
        out.append(
            f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{v}</text>'
        )
    if n:
        for i in sorted({0, n // 2, n - 1}):
            out.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 16}" font-size="10" text-anchor="middle">'
                f"{days[i].isoformat()}</text>"
            )
    if not series or not n:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" font-size="12"'
            ' text-anchor="middle">No open matches in this period.</text>'
        )
    for s, (name, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"'
            f" data-series={quoteattr(name)}/>"
        )
        for i, v in enumerate(values):
            out.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(name)} {days[i].isoformat()}: {v}</title></circle>"
            )
        ly = top + 6 + 16 * s
        out.append(
            f'<rect x="{width - right + 12}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{width - right + 28}" y="{ly + 1}" font-size="11">{escape(name[:22])}</text>'
        )
    out.append("</svg>")
    return "".join(out)
