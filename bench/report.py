"""Figures next to their baselines: percentiles, ratios, goals, and the table they print as.

Every figure of the benchmark is a `Figure`: what was measured, its value, the baseline measured
in the same run and what that baseline is; the ratio is value / baseline. A `Goal` is a
threshold on a ratio (or on a value when it has no baseline), shown with ✓ or ✗.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with `fraction` of the values at or below.

    p50 of [1, 2, 3, 4] is 2, p99 of 100 values is the 99th smallest; NaN when there are none.
    """
    if not values:
        return math.nan
    if not 0 < fraction <= 1:
        raise ValueError(f"a percentile is a fraction in (0, 1], not {fraction}")
    ordered = sorted(values)
    rank = math.ceil(round(fraction * len(ordered), 9))
    return ordered[max(rank, 1) - 1]


@dataclass
class Figure:
    """One measured figure next to its baseline (None: no baseline applies or it is missing)."""

    section: str
    name: str
    value: float | None  # None: could not be measured; `note` says why
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.baseline is None or self.baseline == 0:
            return None
        if math.isnan(self.value) or math.isnan(self.baseline):
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class Goal:
    """`figure`'s ratio (or value, when `on` is "value") must be `compare` `limit`."""

    name: str
    figure: Figure | None
    compare: Literal["<=", ">=", "=="]
    limit: float
    on: Literal["ratio", "value"] = "ratio"

    @property
    def measured(self) -> float | None:
        if self.figure is None:
            return None
        return self.figure.ratio if self.on == "ratio" else self.figure.value

    @property
    def met(self) -> bool | None:
        """True or False; None when the figure is missing."""
        measured = self.measured
        if measured is None or math.isnan(measured):
            return None
        if self.compare == "<=":
            return measured <= self.limit
        if self.compare == ">=":
            return measured >= self.limit
        return measured == self.limit

    @property
    def mark(self) -> str:
        return {True: "✓", False: "✗", None: "?"}[self.met]

    def describe(self) -> str:
        measured = self.measured
        shown = "missing" if measured is None else _number(measured)
        what = "×" if self.on == "ratio" else ""
        goal = f"{self.compare} {_number(self.limit)}{what}"
        return f"{self.mark} {self.name}: {shown}{what} (goal {goal})"

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "figure": self.figure.name if self.figure else None,
            "compare": self.compare,
            "limit": self.limit,
            "on": self.on,
            "measured": self.measured,
            "met": self.met,
        }


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isnan(value):
        return "n/a"
    magnitude = abs(value)
    if float(value).is_integer() and magnitude < 1000:
        return f"{value:.0f}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def shown(value: float | None, unit: str) -> str:
    """A value with its unit, as the tables print it ("missing" when it was not measured)."""
    if value is None:
        return "missing"
    return f"{_number(value)} {unit}".rstrip()


def ratio_text(figure: Figure) -> str:
    ratio = figure.ratio
    return "—" if ratio is None else f"{_number(ratio)}×"


def rows(figures: list[Figure]) -> list[tuple[str, str, str, str, str, str]]:
    """(section, figure, value, baseline, baseline value, ratio) per figure."""
    return [
        (
            f.section,
            f.name,
            shown(f.value, f.unit) + (f" ({f.note})" if f.note and f.value is None else ""),
            f.baseline_name or "—",
            shown(f.baseline, f.unit) if f.baseline_name else "—",
            ratio_text(f),
        )
        for f in figures
    ]


HEADER = ("section", "figure", "value", "baseline", "baseline value", "ratio")


def text_table(figures: list[Figure]) -> str:
    """A fixed-width table for the terminal."""
    table = [HEADER, *rows(figures)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    lines = []
    for index, row in enumerate(table):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(
    figures: list[Figure], goals: list[Goal], machine: dict[str, str], notes: list[str]
) -> str:
    """The table the README shows: the machine, the goals, every figure with its baseline."""
    lines = ["| machine | |", "|---|---|"]
    lines += [f"| {_cell(key)} | {_cell(str(value))} |" for key, value in machine.items()]
    lines.append("")
    if goals:
        lines += ["| goal | measured | |", "|---|---|---|"]
        for goal in goals:
            measured = goal.measured
            suffix = "×" if goal.on == "ratio" else ""
            value = "missing" if measured is None else f"{_number(measured)}{suffix}"
            lines.append(
                f"| {_cell(goal.name)} ({goal.compare} {_number(goal.limit)}{suffix}) "
                f"| {value} | {goal.mark} |"
            )
        lines.append("")
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows(figures)]
    if notes:
        lines.append("")
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
