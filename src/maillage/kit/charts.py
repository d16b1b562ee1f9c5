"""Charts and maps drawn server-side as SVG: no JavaScript, no chart library, no CDN, readable without a plug-in.

Every text is escaped and every number is written by ``kit.numbers.fr_number`` (the platform's one French number
format). Each SVG carries a ``<title>`` and ``role="img"`` with an ``aria-label`` so that screen readers announce it;
the page shows the same values in a table. Only presentation attributes and classes are used: the content security
policy forbids inline styles.

- ``bar_chart``, ``monthly_chart``, ``commune_map``: indicators by group, by month and by commune (analytics); a
  value of None is masked (secret statistique) and drawn as such, never as zero.
- ``time_chart``: measures over a period on a time axis in Paris days, with dashed thresholds (telesurveillance).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from maillage.kit.clock import PARIS
from maillage.kit.numbers import fr_number

WIDTH = 760
PALETTE = ("#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac")  # low → high accessibility


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: masked (secret statistique)


def bar_chart(title: str, bars: Sequence[Bar], unit: str, decimals: int = 1) -> Markup:
    """Horizontal bars; masked values are drawn as a hatched placeholder labelled « secret »."""
    height = 30 + 22 * max(1, len(bars))
    label_w, right = 190, 90
    plot_w = WIDTH - label_w - right
    top = max([b.value for b in bars if b.value is not None] or [1.0]) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        '<defs><pattern id="secret" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" fill="#bbb"/></pattern></defs>',
        f'<text x="{label_w}" y="16" class="unit" font-size="12">{escape(unit)}</text>',
    ]
    for i, bar in enumerate(bars):
        y = 26 + 22 * i
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="12">'
                     f"{escape(bar.label[:28])}</text>")
        if bar.value is None:
            parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w * 0.15:.1f}" height="16" fill="url(#secret)">'
                         "<title>secret statistique</title></rect>")
            parts.append(f'<text x="{label_w + plot_w * 0.15 + 6:.1f}" y="{y + 13}" font-size="12">secret</text>')
            continue
        w = max(0.0, plot_w * bar.value / top)
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="16" fill="#2166ac">'
                     f"<title>{escape(bar.label)} : {fr_number(bar.value, decimals)}</title></rect>")
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 13}" font-size="12">'
                     f"{fr_number(bar.value, decimals)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def monthly_chart(title: str, labels: Sequence[str], values: Sequence[float | None], unit: str,
                  decimals: int = 0) -> Markup:
    """A time series; masked points break the line and are marked with a hollow square."""
    height, left, bottom, top_pad = 260, 60, 40, 24
    plot_w, plot_h = WIDTH - left - 20, height - bottom - top_pad
    known = [v for v in values if v is not None]
    top = max(known or [1.0]) or 1.0
    n = max(1, len(values) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + plot_w * i / n, top_pad + plot_h * (1 - v / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#555"/>',
        f'<text x="{left}" y="14" font-size="12">{escape(unit)} (max. {fr_number(top, decimals)})</text>',
    ]
    segment: list[str] = []
    for i, v in enumerate(values):
        if v is None:
            if len(segment) > 1:
                parts.append(f'<polyline fill="none" stroke="#2166ac" stroke-width="2" points="{" ".join(segment)}"/>')
            segment = []
            x, y = xy(i, 0)
            parts.append(f'<rect x="{x - 4:.1f}" y="{y - 8:.1f}" width="8" height="8" fill="none" stroke="#999">'
                         f"<title>{escape(labels[i])} : secret statistique</title></rect>")
            continue
        x, y = xy(i, v)
        segment.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2166ac">'
                     f"<title>{escape(labels[i])} : {fr_number(v, decimals)}</title></circle>")
    if len(segment) > 1:
        parts.append(f'<polyline fill="none" stroke="#2166ac" stroke-width="2" points="{" ".join(segment)}"/>')
    for i, label in enumerate(labels):
        x, _ = xy(i, 0)
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle" font-size="11">'
                     f"{escape(label[-2:] if len(label) == 7 else label)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


@dataclass(frozen=True)
class MapPoint:
    code: str
    name: str
    latitude: float
    longitude: float
    population: int
    value: float | None
    flagged: bool = False


def colour_for(value: float | None, breaks: Sequence[float]) -> str:
    if value is None:
        return "#cccccc"
    for i, b in enumerate(breaks):
        if value < b:
            return PALETTE[i]
    return PALETTE[-1]


def commune_map(title: str, points: Sequence[MapPoint], breaks: Sequence[float], unit: str,
                outlines: Mapping[str, Sequence[Sequence[tuple[float, float]]]] | None = None) -> Markup:
    """Communes as circles at their coordinates (area ∝ population, colour = value class); deserts outlined;
    ``outlines`` (département → rings of (latitude, longitude)) drawn beneath, in the same projection."""
    if not points:
        return Markup("")
    lats = [p.latitude for p in points]
    lons = [p.longitude for p in points]
    lat0 = math.radians(sum(lats) / len(lats))
    xs = [lon * math.cos(lat0) for lon in lons]
    min_x, max_x, min_y, max_y = min(xs), max(xs), min(lats), max(lats)
    span = max(max_x - min_x, max_y - min_y, 1e-6)
    size, pad = 640, 20
    biggest = max(p.population for p in points) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {size + 2 * pad + 170} {size + 2 * pad}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    cos0 = math.cos(lat0)
    for dep, rings in sorted((outlines or {}).items()):
        for ring in rings:
            path = " ".join(f"{pad + (lon * cos0 - min_x) / span * size:.1f},{pad + (max_y - lat) / span * size:.1f}"
                            for lat, lon in ring)
            parts.append(f'<polygon class="departement" points="{path}" fill="#f4f4f4" stroke="#555" '
                         f'stroke-width="1" data-departement="{escape(dep)}"><title>Département {escape(dep)} '
                         "(contour approché)</title></polygon>")
    for p, x in sorted(zip(points, xs, strict=True), key=lambda px: -px[0].population):
        cx = pad + (x - min_x) / span * size
        cy = pad + (max_y - p.latitude) / span * size
        r = 1.5 + 14 * math.sqrt(p.population / biggest)
        stroke = ' stroke="#000" stroke-width="1.5"' if p.flagged else ' stroke="#fff" stroke-width="0.4"'
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{colour_for(p.value, breaks)}"{stroke} '
                     f'data-commune="{escape(p.code)}"><title>{escape(p.name)} ({escape(p.code)}) : '
                     f"{fr_number(p.value, 2)} {escape(unit)}</title></circle>")
    lx = size + 2 * pad + 10
    parts.append(f'<text x="{lx}" y="30" font-size="12">{escape(unit)}</text>')
    bounds = ["", *[fr_number(b, 1) for b in breaks]]
    for i, colour in enumerate(PALETTE):
        low = bounds[i] if i < len(bounds) else ""
        high = bounds[i + 1] if i + 1 < len(bounds) else ""
        label = f"moins de {high}" if i == 0 else (f"{low} et plus" if not high else f"{low} à {high}")
        parts.append(f'<rect x="{lx}" y="{42 + 20 * i}" width="14" height="14" fill="{colour}"/>'
                     f'<text x="{lx + 20}" y="{53 + 20 * i}" font-size="12">{escape(label)}</text>')
    parts.append(f'<circle cx="{lx + 7}" cy="{60 + 20 * len(PALETTE)}" r="6" fill="none" stroke="#000" '
                 f'stroke-width="1.5"/><text x="{lx + 20}" y="{64 + 20 * len(PALETTE)}" font-size="12">'
                 "sous-dense</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


# -- Measures over time ---------------------------------------------------------------------------------------

TIME_HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 56, 150, 16, 34
THRESHOLD_CLASSES = {"red": "thr-red", "orange": "thr-orange", "reference": "thr-reference", "green": "thr-green"}


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


def time_chart(title: str, series: Sequence[tuple[str, str, Sequence[tuple[dt.datetime, float]]]],
               since: dt.datetime, until: dt.datetime, thresholds: Sequence[tuple[str, float, str]] = (),
               unit: str = "", decimals: int = 1) -> Markup:
    """One chart. ``series``: (label, css class, points); ``thresholds``: (label, value, kind) drawn dashed."""
    values = [v for _, _, points in series for _, v in points] + [t[1] for t in thresholds]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, TIME_HEIGHT - TOP - BOTTOM
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {TIME_HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    if not any(points for _, _, points in series):
        parts.append(f'<text x="{WIDTH / 2}" y="{TIME_HEIGHT / 2}" text-anchor="middle" class="empty">'
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
                     f'{fr_number(tick, decimals)}</text>')
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
                             f'<text x="{x(at):.1f}" y="{TIME_HEIGHT - 12}" text-anchor="middle" class="tick">'
                             f'{day.strftime("%d/%m")}</text>')
        day += dt.timedelta(days=1)
        n += 1
    for label, value, kind in thresholds:
        css = THRESHOLD_CLASSES.get(kind, "thr-orange")
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                     f'class="threshold {css}" stroke-dasharray="6 4"><title>{escape(label)} : '
                     f'{fr_number(value, decimals)} {escape(unit)}</title></line>'
                     f'<text x="{LEFT + plot_w + 6}" y="{y(value) + 4:.1f}" class="thr-label {css}">'
                     f'{escape(label[:24])} ({fr_number(value, decimals)})</text>')
    for label, css, points in series:
        if not points:
            continue
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(f'<polyline points="{coords}" class="series {escape(css)}" fill="none"><title>{escape(label)}'
                     f'</title></polyline>')
        for t, v in points[-400:]:
            parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" class="point {escape(css)}">'
                         f'<title>{t.astimezone(PARIS).strftime("%d/%m %H:%M")} : {fr_number(v, decimals)} '
                         f'{escape(unit)}</title></circle>')
    parts.append(f'<text x="{LEFT}" y="{TOP - 4}" class="unit">{escape(unit)}</text></svg>')
    return Markup("".join(parts))  # noqa: S704 - built from escaped text and numbers only
