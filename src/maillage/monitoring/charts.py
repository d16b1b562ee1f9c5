"""Server-drawn SVG curves (no chart library, no CDN): a time axis in Paris days, the series, the thresholds.

Only presentation attributes and classes are used (the content security policy forbids inline styles).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup, escape

from maillage.kit.clock import PARIS

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 150, 16, 34
THRESHOLD_CLASSES = {"red": "thr-red", "orange": "thr-orange", "reference": "thr-reference", "green": "thr-green"}


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}".replace(".", ",")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = (low // step) * step
    out, value = [], start
    while value <= high + step / 2:
        if value >= low - 1e-9:
            out.append(round(value, 6))
        value += step
    return out


def line_chart(title: str, series: Sequence[tuple[str, str, Sequence[tuple[dt.datetime, float]]]],
               since: dt.datetime, until: dt.datetime, thresholds: Sequence[tuple[str, float, str]] = (),
               unit: str = "", decimals: int = 1) -> Markup:
    """One chart. ``series``: (label, css class, points); ``thresholds``: (label, value, kind) drawn dashed."""
    values = [v for _, _, points in series for _, v in points] + [t[1] for t in thresholds]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    if not any(points for _, _, points in series):
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="empty">'
                     'Aucune mesure sur la période</text></svg>')
        return Markup("".join(parts))  # noqa: S704 - built from escaped text and numbers only
    low, high = min(values), max(values)
    pad = max((high - low) * 0.1, 0.5 if decimals else 2)
    low, high = low - pad, high + pad
    span = (until - since).total_seconds() or 1.0

    def x(at: dt.datetime) -> float:
        return LEFT + plot_w * max(0.0, min(1.0, (at - since).total_seconds() / span))

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / (high - low))

    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>')
    for tick in _ticks(low, high):
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" class="grid"/>'
                     f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" class="tick">'
                     f'{_fmt(tick, decimals)}</text>')
    days = max(1, round(span / 86400))
    every = 1 if days <= 10 else 7 if days <= 70 else 30
    day = since.astimezone(PARIS).date()
    last = until.astimezone(PARIS).date()
    n = 0
    while day <= last:
        if n % every == 0:
            at = dt.datetime.combine(day, dt.time(), PARIS)
            if at >= since:
                parts.append(f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{TOP}" y2="{TOP + plot_h}" class="grid"/>'
                             f'<text x="{x(at):.1f}" y="{HEIGHT - 12}" text-anchor="middle" class="tick">'
                             f'{day.strftime("%d/%m")}</text>')
        day += dt.timedelta(days=1)
        n += 1
    for label, value, kind in thresholds:
        css = THRESHOLD_CLASSES.get(kind, "thr-orange")
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                     f'class="threshold {css}" stroke-dasharray="6 4"><title>{escape(label)} : '
                     f'{_fmt(value, decimals)} {escape(unit)}</title></line>'
                     f'<text x="{LEFT + plot_w + 6}" y="{y(value) + 4:.1f}" class="thr-label {css}">'
                     f'{escape(label[:24])} ({_fmt(value, decimals)})</text>')
    for label, css, points in series:
        if not points:
            continue
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(f'<polyline points="{coords}" class="series {escape(css)}" fill="none"><title>{escape(label)}'
                     f'</title></polyline>')
        for t, v in points[-400:]:
            parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" class="point {escape(css)}">'
                         f'<title>{t.astimezone(PARIS).strftime("%d/%m %H:%M")} : {_fmt(v, decimals)} '
                         f'{escape(unit)}</title></circle>')
    parts.append(f'<text x="{LEFT}" y="{TOP - 4}" class="unit">{escape(unit)}</text></svg>')
    return Markup("".join(parts))  # noqa: S704 - built from escaped text and numbers only
