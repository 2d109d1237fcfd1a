"""What the KPI page and its CSV show of a report: sections with charts, tables and rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from markupsafe import Markup

from backend.kpis import definitions as d
from backend.kpis.charts import bar_chart, line_chart
from backend.kpis.definitions import Figure
from backend.kpis.report import ALL, KPIS, KpiSpec, Report
from backend.money import InvalidAmount, to_decimal

CSV_COLUMNS = (
    "kpi",
    "title",
    "from",
    "to",
    "granularity",
    "dimension",
    "group",
    "key",
    "value",
    "numerator",
    "denominator",
    "unit",
)


@dataclass(frozen=True)
class Row:
    label: str
    cells: list[tuple[str, str]]  # (figure, what it is based on) per key


@dataclass
class Section:
    key: str
    title: str
    definition: list[str]  # paragraphs
    headline: list[tuple[str, str, str]]  # (key, figure, based on)
    key_label: str
    keys: list[str]
    charts: list[Markup] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)


def value_format(unit: str) -> Callable[[float], str]:
    return lambda v: Figure(v, unit).text()


def _money(minor: float | None, currency: str) -> str:
    if minor is None:
        return "0"
    try:
        return f"{to_decimal(int(minor), currency):,}"
    except InvalidAmount:
        return str(int(minor))


def based_on(spec: KpiSpec, key: str, figure: Figure) -> str:
    """What the figure was computed from, in words: "2 of 3", "1,200.00 of 3,900.00 BRL"."""
    num, den = figure.numerator, figure.denominator
    if spec.unit == d.RATE and spec.key_label == "currency":
        return f"{_money(num, key)} of {_money(den, key)} {key}"
    if spec.unit == d.RATE:
        return f"{int(num or 0)} of {int(den or 0)}"
    if spec.unit == d.DAYS:
        return f"open {_money(num, key)}, collected {_money(den, key)} {key}"
    if spec.unit == d.MINUTES:
        return f"{int(num or 0)} answered"
    if spec.unit == d.SCORE:
        return f"{int(den or 0)} scores"
    return ""


def _label(day: date, granularity: str) -> str:
    return day.strftime("%d %b") if granularity == "day" else f"wk {day.strftime('%d %b')}"


def _chart_id(*parts: str) -> str:
    return "chart-" + "-".join("".join(ch if ch.isalnum() else "_" for ch in p) for p in parts)


def _groups(report: Report, spec: KpiSpec) -> list[tuple[str, str, str]]:
    groups = [(ALL, ALL, "Everyone")]
    groups += [("segment", s, f"Segment {s}") for s in report.groups(spec.key, "segment")]
    groups += [("channel", c, f"Channel {c}") for c in report.groups(spec.key, "channel")]
    return groups


def sections(report: Report) -> list[Section]:
    period = report.period
    granularity = period.granularity
    buckets = period.buckets()
    built = []
    for spec in KPIS:
        keys = report.keys(spec.key)
        fmt = value_format(spec.unit)
        section = Section(
            key=spec.key,
            title=spec.title,
            definition=[p.replace("\n", " ") for p in spec.definition.split("\n\n")],
            headline=[],
            key_label=spec.key_label,
            keys=keys,
        )
        for key in keys:
            figure = report.figure(spec.key, key=key)
            section.headline.append((key, figure.text(), based_on(spec, key, figure)))
        # Charts: the distribution of keys (CSAT scores, suppression reasons), else each
        # key's figure over time and by segment and channel.
        if spec.key_label in ("score", "reason"):
            bars = [(k, report.figure(spec.key, key=k).value) for k in keys if k != ALL]
            section.charts.append(
                bar_chart(
                    chart_id=_chart_id(spec.key, "keys"),
                    title=f"{spec.title} by {spec.key_label}",
                    bars=bars,
                    x_label=spec.key_label.capitalize(),
                    y_label="Count",
                    fmt=fmt,
                )
            )
        # Over time and by group: each currency's figure, all suppressions, no CSAT score.
        chart_keys = {"score": [], "reason": [ALL]}.get(spec.key_label, keys)
        for key in chart_keys:
            suffix = f" ({key})" if key and key != ALL else ""
            points = [
                (
                    _label(start, granularity),
                    _value(report.figure(spec.key, key=key, window=(start, end))),
                )
                for start, end in buckets
            ]
            section.charts.append(
                line_chart(
                    chart_id=_chart_id(spec.key, key, "time"),
                    title=f"{spec.title}{suffix} by {granularity}",
                    points=points,
                    x_label=granularity.capitalize(),
                    y_label=spec.unit.capitalize(),
                    fmt=fmt,
                )
            )
            for dimension in ("segment", "channel"):
                names = report.groups(spec.key, dimension)
                if not names:
                    continue
                bars = [
                    (
                        name,
                        _value(report.figure(spec.key, dimension=dimension, group=name, key=key)),
                    )
                    for name in names
                ]
                section.charts.append(
                    bar_chart(
                        chart_id=_chart_id(spec.key, key, dimension),
                        title=f"{spec.title}{suffix} by {dimension}",
                        bars=bars,
                        x_label=dimension.capitalize(),
                        y_label=spec.unit.capitalize(),
                        fmt=fmt,
                    )
                )
        for dimension, group, label in _groups(report, spec):
            cells = []
            for key in keys:
                figure = report.figure(spec.key, dimension=dimension, group=group, key=key)
                if figure is None:
                    cells.append(("n/a", ""))
                else:
                    cells.append((figure.text(), based_on(spec, key, figure)))
            section.rows.append(Row(label, cells))
        built.append(section)
    return built


def _value(figure: Figure | None) -> float | None:
    return figure.value if figure is not None else None


def _safe(text: str) -> str:
    """A spreadsheet must not read a segment or reason as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0")


def csv_text(report: Report) -> str:
    """Every cell of the report, one line each; an n/a figure has an empty value."""
    period = report.period
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    titles = {spec.key: spec.title for spec in KPIS}
    for cell in report.cells:
        whole = (cell.start, cell.end) == (period.start, period.end)
        writer.writerow(
            [
                cell.kpi,
                titles[cell.kpi],
                cell.start.isoformat(),
                (cell.end - timedelta(days=1)).isoformat(),
                "period" if whole else period.granularity,
                cell.dimension,
                _safe(cell.group),
                _safe(cell.key),
                _number(cell.figure.value),
                _number(cell.figure.numerator),
                _number(cell.figure.denominator),
                cell.figure.unit,
            ]
        )
    return out.getvalue()
