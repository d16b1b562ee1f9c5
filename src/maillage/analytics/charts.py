"""Charts and the commune map drawn server-side as SVG: no JavaScript, no CDN, readable without a browser plug-in.

Every text goes through ``html.escape``; numbers are formatted the French way. The SVGs carry a ``<title>`` and a
``role="img"`` with an ``aria-label`` so that screen readers announce them; the table under each chart holds the
same values.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 760
PALETTE = ("#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac")  # low → high accessibility


def fr_number(value: float | None, decimals: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u202f").replace(".", ",")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


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
        f'aria-label="{_esc(title)}"><title>{_esc(title)}</title>',
        '<defs><pattern id="secret" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" fill="#bbb"/></pattern></defs>',
        f'<text x="{label_w}" y="16" class="unit" font-size="12">{_esc(unit)}</text>',
    ]
    for i, bar in enumerate(bars):
        y = 26 + 22 * i
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="12">'
                     f"{_esc(bar.label[:28])}</text>")
        if bar.value is None:
            parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w * 0.15:.1f}" height="16" fill="url(#secret)">'
                         "<title>secret statistique</title></rect>")
            parts.append(f'<text x="{label_w + plot_w * 0.15 + 6:.1f}" y="{y + 13}" font-size="12">secret</text>')
            continue
        w = max(0.0, plot_w * bar.value / top)
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="16" fill="#2166ac">'
                     f"<title>{_esc(bar.label)} : {fr_number(bar.value, decimals)}</title></rect>")
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 13}" font-size="12">'
                     f"{fr_number(bar.value, decimals)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def line_chart(title: str, labels: Sequence[str], values: Sequence[float | None], unit: str,
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
        f'aria-label="{_esc(title)}"><title>{_esc(title)}</title>',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#555"/>',
        f'<text x="{left}" y="14" font-size="12">{_esc(unit)} (max. {fr_number(top, decimals)})</text>',
    ]
    segment: list[str] = []
    for i, v in enumerate(values):
        if v is None:
            if len(segment) > 1:
                parts.append(f'<polyline fill="none" stroke="#2166ac" stroke-width="2" points="{" ".join(segment)}"/>')
            segment = []
            x, y = xy(i, 0)
            parts.append(f'<rect x="{x - 4:.1f}" y="{y - 8:.1f}" width="8" height="8" fill="none" stroke="#999">'
                         f"<title>{_esc(labels[i])} : secret statistique</title></rect>")
            continue
        x, y = xy(i, v)
        segment.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2166ac">'
                     f"<title>{_esc(labels[i])} : {fr_number(v, decimals)}</title></circle>")
    if len(segment) > 1:
        parts.append(f'<polyline fill="none" stroke="#2166ac" stroke-width="2" points="{" ".join(segment)}"/>')
    for i, label in enumerate(labels):
        x, _ = xy(i, 0)
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle" font-size="11">'
                     f"{_esc(label[-2:] if len(label) == 7 else label)}</text>")
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
        f'role="img" aria-label="{_esc(title)}"><title>{_esc(title)}</title>'
    ]
    cos0 = math.cos(lat0)
    for dep, rings in sorted((outlines or {}).items()):
        for ring in rings:
            path = " ".join(f"{pad + (lon * cos0 - min_x) / span * size:.1f},{pad + (max_y - lat) / span * size:.1f}"
                            for lat, lon in ring)
            parts.append(f'<polygon class="departement" points="{path}" fill="#f4f4f4" stroke="#555" '
                         f'stroke-width="1" data-departement="{_esc(dep)}"><title>Département {_esc(dep)} '
                         "(contour approché)</title></polygon>")
    for p, x in sorted(zip(points, xs, strict=True), key=lambda px: -px[0].population):
        cx = pad + (x - min_x) / span * size
        cy = pad + (max_y - p.latitude) / span * size
        r = 1.5 + 14 * math.sqrt(p.population / biggest)
        stroke = ' stroke="#000" stroke-width="1.5"' if p.flagged else ' stroke="#fff" stroke-width="0.4"'
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{colour_for(p.value, breaks)}"{stroke} '
                     f'data-commune="{_esc(p.code)}"><title>{_esc(p.name)} ({_esc(p.code)}) : '
                     f"{fr_number(p.value, 2)} {_esc(unit)}</title></circle>")
    lx = size + 2 * pad + 10
    parts.append(f'<text x="{lx}" y="30" font-size="12">{_esc(unit)}</text>')
    bounds = ["", *[fr_number(b, 1) for b in breaks]]
    for i, colour in enumerate(PALETTE):
        low = bounds[i] if i < len(bounds) else ""
        high = bounds[i + 1] if i + 1 < len(bounds) else ""
        label = f"moins de {high}" if i == 0 else (f"{low} et plus" if not high else f"{low} à {high}")
        parts.append(f'<rect x="{lx}" y="{42 + 20 * i}" width="14" height="14" fill="{colour}"/>'
                     f'<text x="{lx + 20}" y="{53 + 20 * i}" font-size="12">{_esc(label)}</text>')
    parts.append(f'<circle cx="{lx + 7}" cy="{60 + 20 * len(PALETTE)}" r="6" fill="none" stroke="#000" '
                 f'stroke-width="1.5"/><text x="{lx + 20}" y="{64 + 20 * len(PALETTE)}" font-size="12">'
                 "sous-dense</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
