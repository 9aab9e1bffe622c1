"""Charts drawn on the server as inline SVG: no script, nothing fetched, readable without colour.

Each bar is a ``<rect class="bar">`` carrying ``data-series``, ``data-label`` and
``data-value`` (the figure itself: minor units for money, counts or TVU otherwise) and a
``<title>`` that a browser shows on hover; a table under each chart gives the same figures.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

from markupsafe import Markup, escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 70, 10, 34, 40


def _nice_max(value: int) -> int:
    """The axis top: ``value`` rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def bar_chart(labels: Sequence[str], series: Mapping[str, Sequence[int]], *, title: str, stacked: bool = True,
              fmt: Callable[[int], str] = str, short: Callable[[str], str] = lambda s: s) -> Markup:
    """Bars per label, one colour per series, stacked or side by side."""
    names = list(series)
    n = max(len(labels), 1)
    per_label = [sum(series[s][i] for s in names) if stacked else max([series[s][i] for s in names] or [0])
                 for i in range(len(labels))]
    top = _nice_max(max(per_label or [0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / n
    bar_w = slot * 0.7 / (1 if stacked else max(len(names), 1))
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title>']
    parts += _axis(top, plot_w, plot_h, fmt)
    for i, label in enumerate(labels):
        base = TOP + plot_h
        for k, name in enumerate(names):
            value = series[name][i]
            h = plot_h * value / top
            x = LEFT + slot * i + slot * 0.15 + (0 if stacked else k * bar_w)
            y = base - h
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[k % len(PALETTE)]}" data-series="{escape(name)}" '
                         f'data-label="{escape(label)}" data-value="{value}">'
                         f'<title>{escape(label)} {escape(name)}: {escape(fmt(value))}</title></rect>')
            if stacked:
                base = y
        if n <= 16 or i % ((n + 15) // 16) == 0:
            parts.append(f'<text class="xlabel" x="{LEFT + slot * (i + 0.5):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                         f'text-anchor="middle" font-size="11">{escape(short(label))}</text>')
    parts += _legend(names)
    parts.append("</svg>")
    return Markup("".join(parts))


def _axis(top: int, plot_w: float, plot_h: float, fmt: Callable[[int], str]) -> list[str]:
    out = []
    for frac in (0, 0.5, 1) if top >= 2 else (0, 1):
        y = TOP + plot_h * (1 - frac)
        value = int(top * frac)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ccc" '
                   f'stroke-width="1"/>')
        out.append(f'<text class="ylabel" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{escape(fmt(value))}</text>')
    return out


def _legend(names: Sequence[str]) -> list[str]:
    out, x = [], LEFT
    for k, name in enumerate(names):
        out.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{PALETTE[k % len(PALETTE)]}"/>'
                   f'<text x="{x + 16}" y="18" font-size="12">{escape(name)}</text>')
        x += 24 + 8 * len(name)
    return out


__all__ = ["bar_chart"]
