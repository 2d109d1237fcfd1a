"""Small SVG charts drawn on the server: a line over time, and bars by group.

No JavaScript and nothing fetched: each chart is inline SVG with a title and a description
for screen readers (`role="img"`), axis labels, and each value written as text (on the
chart when there is room, and always in a `<title>` of its point or bar). A value that is
n/a leaves a gap, never a zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

WIDTH = 640
HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 44, 52
MAX_VALUE_LABELS = 16  # beyond this many points, values are in the titles and the table only


def _nice_top(values: Sequence[float]) -> float:
    top = max(values, default=0.0)
    if top <= 0:
        return 1.0
    for step in (1, 2, 2.5, 5):
        magnitude = 10 ** len(str(int(top))) / 10 if top >= 1 else 1
        candidate = step * magnitude
        if top <= candidate:
            return candidate
    return top * 1.1


def _frame(
    chart_id: str, title: str, description: str, x_label: str, y_label: str, top: float, fmt
) -> list[str]:
    plot_height = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<text class="chart-title" x="{LEFT}" y="16">{escape(title)}</text>',
    ]
    for share in (0, 0.5, 1):
        y = TOP + plot_height * (1 - share)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(top * share))}</text>"
        )
    parts.append(
        f'<text class="axis-label" x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text class="axis-label" x="14" y="{TOP + plot_height / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + plot_height / 2})">{escape(y_label)}</text>'
    )
    return parts


def _describe(points: Sequence[tuple[str, float | None]], fmt) -> str:
    return "; ".join(f"{label}: {fmt(v) if v is not None else 'n/a'}" for label, v in points)


def line_chart(
    *,
    chart_id: str,
    title: str,
    points: Sequence[tuple[str, float | None]],
    x_label: str,
    y_label: str,
    fmt: Callable[[float], str],
) -> Markup:
    """A line through the points in order; n/a points break the line."""
    values = [v for _, v in points if v is not None]
    top = _nice_top(values)
    parts = _frame(chart_id, title, _describe(points, fmt), x_label, y_label, top, fmt)
    under_points = len(parts)  # the line is drawn first, under its points
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    step = plot_width / max(len(points) - 1, 1)
    label_every = max(1, -(-len(points) // 8))  # at most about 8 labels on the x axis
    segments: list[list[str]] = [[]]
    last = len(points) - 1
    for index, (label, value) in enumerate(points):
        x = LEFT + step * index if len(points) > 1 else LEFT + plot_width / 2
        # The last point is labelled too, unless that would crowd the label before it.
        if index % label_every == 0 or (index == last and index % label_every > label_every / 2):
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
        if value is None:
            segments.append([])
            continue
        y = TOP + plot_height * (1 - value / top)
        segments[-1].append(f"{x:.1f},{y:.1f}")
        text = fmt(value)
        parts.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3">'
            f"<title>{escape(label)}: {escape(text)}</title></circle>"
        )
        if len(points) <= MAX_VALUE_LABELS:
            parts.append(
                f'<text class="value" x="{x:.1f}" y="{y - 7:.1f}" '
                f'text-anchor="middle">{escape(text)}</text>'
            )
    for segment in segments:
        if len(segment) > 1:
            parts.insert(under_points, f'<polyline class="line" points="{" ".join(segment)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    *,
    chart_id: str,
    title: str,
    bars: Sequence[tuple[str, float | None]],
    x_label: str,
    y_label: str,
    fmt: Callable[[float], str],
) -> Markup:
    """One vertical bar per group, its value written above it ("n/a" with no bar)."""
    values = [v for _, v in bars if v is not None]
    top = _nice_top(values)
    parts = _frame(chart_id, title, _describe(bars, fmt), x_label, y_label, top, fmt)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(bars), 1)
    width = min(slot * 0.6, 80)
    for index, (label, value) in enumerate(bars):
        center = LEFT + slot * index + slot / 2
        parts.append(
            f'<text class="tick" x="{center:.1f}" y="{HEIGHT - BOTTOM + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
        if value is None:
            parts.append(
                f'<text class="value" x="{center:.1f}" y="{TOP + plot_height - 6}" '
                f'text-anchor="middle">n/a</text>'
            )
            continue
        height = plot_height * (value / top)
        y = TOP + plot_height - height
        text = fmt(value)
        parts.append(
            f'<rect class="bar" x="{center - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="{height:.1f}"><title>{escape(label)}: {escape(text)}</title></rect>'
        )
        parts.append(
            f'<text class="value" x="{center:.1f}" y="{y - 5:.1f}" '
            f'text-anchor="middle">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
