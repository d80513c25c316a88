"""Charts drawn on the server as inline SVG: no script, no external service, nothing to load.

Every text that goes into the SVG is escaped; colours and strokes come from CSS classes
(the Content-Security-Policy forbids inline styles), so a chart follows the page's theme.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

WIDTH = 600
HEIGHT = 180
PAD_LEFT = 56
PAD_RIGHT = 12
PAD_TOP = 12
PAD_BOTTOM = 28


@dataclass(frozen=True)
class Series:
    """One line of a chart: its name (for the legend), CSS class and points."""

    name: str
    css: str
    points: Sequence[tuple[datetime, float]]


def _nice_top(value: float) -> float:
    """A round number at or above ``value`` for the top of the y axis."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return float(top)
    return float(10 * magnitude)


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    y_label: Callable[[float], str],
    x_label: Callable[[datetime, float], str],
    empty: str,
) -> Markup:
    """An accessible SVG line chart of ``series`` over time.

    ``y_label`` formats a value of the y axis (numbers in the reader's digits, a
    duration), ``x_label`` a time given the span shown; ``empty`` is the text shown
    when there is nothing to draw.
    """
    points = [point for line in series for point in line.points]
    head = Markup('<figure class="chart"><figcaption>{}</figcaption>').format(title)
    if not points:
        return head + Markup('<p class="chart-empty">{}</p></figure>').format(empty)
    start = min(when for when, _ in points)
    end = max(when for when, _ in points)
    span = max((end - start).total_seconds(), 1.0)
    top = _nice_top(max(value for _, value in points))
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(when: datetime) -> float:
        return PAD_LEFT + inner_w * (when - start).total_seconds() / span

    def y(value: float) -> float:
        return PAD_TOP + inner_h * (1 - value / top)

    parts = [
        Markup(
            '<svg class="chart-svg" viewBox="0 0 {w} {h}" role="img" aria-label="{label}"'
            ' preserveAspectRatio="none" dir="ltr"><title>{label}</title>'
        ).format(w=WIDTH, h=HEIGHT, label=title)
    ]
    for step in range(5):
        value = top * step / 4
        parts.append(
            Markup(
                '<line class="grid" x1="{x1}" x2="{x2}" y1="{y:.1f}" y2="{y:.1f}"/>'
                '<text class="axis" x="{tx}" y="{ty:.1f}" text-anchor="end">{text}</text>'
            ).format(
                x1=PAD_LEFT,
                x2=WIDTH - PAD_RIGHT,
                y=y(value),
                tx=PAD_LEFT - 6,
                ty=y(value) + 4,
                text=y_label(value),
            )
        )
    for step in range(5):
        when = start + (end - start) * step / 4
        parts.append(
            Markup('<text class="axis" x="{x:.1f}" y="{y}" text-anchor="middle">{t}</text>').format(
                x=x(when), y=HEIGHT - 8, t=x_label(when, span)
            )
        )
    for line in series:
        if not line.points:
            continue
        path = " ".join(f"{x(when):.1f},{y(value):.1f}" for when, value in line.points)
        parts.append(
            Markup(
                '<polyline class="line {css}" points="{p}"><title>{name}</title></polyline>'
            ).format(css=line.css, p=path, name=line.name)
        )
    parts.append(Markup("</svg>"))
    legend = Markup("").join(
        Markup('<li><span class="swatch {css}"></span>{name}</li>').format(css=s.css, name=s.name)
        for s in series
    )
    return (
        head + Markup("").join(parts) + Markup('<ul class="legend">{}</ul></figure>').format(legend)
    )


def spark_bar(value: float, top: float, label: str) -> Markup:
    """A small horizontal bar (a progress or a share) with its label for screen readers."""
    share = 0.0 if top <= 0 else max(0.0, min(1.0, value / top))
    return Markup(
        '<svg class="bar" viewBox="0 0 100 8" role="img" aria-label="{label}"'
        ' preserveAspectRatio="none"><rect class="bar-bg" width="100" height="8"/>'
        '<rect class="bar-fg" width="{w:.1f}" height="8"/></svg>'
    ).format(label=escape(label), w=share * 100)
