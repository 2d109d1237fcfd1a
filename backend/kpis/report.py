"""A KPI report: every figure for a period, over time, by segment and by channel.

`build_report` runs each definition of `backend.kpis.definitions` over the whole period and
over each bucket (days for a period of up to 31 days, else 7-day weeks from its first day),
for everyone, for each risk segment and, where a channel means something, for each channel.
The page and the CSV export both read the resulting cells.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cached_property

from backend.kpis import definitions as d
from backend.kpis.definitions import Figure, KpiData

MAX_DAYS = 366
DAILY_UP_TO_DAYS = 31
ALL = "all"
_DATED = ("payments", "conversations", "promises", "handoffs", "csat", "outbox")
_WITH_CHANNEL = ("conversations", "promises", "handoffs", "csat", "outbox")


@dataclass(frozen=True)
class Period:
    """Days `start` (included) to `end` (excluded)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a period ends after it starts")
        if (self.end - self.start).days > MAX_DAYS:
            raise ValueError(f"a period is at most {MAX_DAYS} days")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def bucket_days(self) -> int:
        return 1 if self.days <= DAILY_UP_TO_DAYS else 7

    @property
    def granularity(self) -> str:
        return "day" if self.bucket_days == 1 else "week"

    def buckets(self) -> list[tuple[date, date]]:
        step = timedelta(days=self.bucket_days)
        starts = []
        day = self.start
        while day < self.end:
            starts.append(day)
            day += step
        return [(s, min(s + step, self.end)) for s in starts]

    def boundaries(self) -> list[date]:
        """Every day a balance is needed on: each bucket's first day, and the period's end."""
        return [start for start, _ in self.buckets()] + [self.end]


@dataclass(frozen=True)
class KpiSpec:
    key: str
    title: str
    unit: str
    definition_of: Callable
    compute: Callable[[KpiData, date, date], dict[str, Figure]]
    by_channel: bool = True
    key_label: str = ""  # what a figure's key is: currency, score, reason
    sources: tuple[str, ...] = ()  # the KpiData rows it reads: its segments and channels

    @property
    def definition(self) -> str:
        return inspect.cleandoc(self.definition_of.__doc__ or "")


def _cure(data: KpiData, start: date, end: date, which: str) -> Figure:
    # The cure and self-cure rates count in one pass: the second reads the first's counts.
    key = (id(data.debts), start, end)
    counts = _CURE_COUNTS.get(key)
    if counts is None or counts[0] is not data.debts:  # (the list is held: its id is its own)
        counts = (data.debts, d.cure_counts(data.debts, start, end))
        _CURE_COUNTS[key] = counts
    return d.ratio(getattr(counts[1], which), counts[1].overdue)


_CURE_COUNTS: dict[tuple, tuple] = {}  # emptied at the start and end of each build


def _one(function):
    return lambda data, _start, _end: {"": function(data)}


KPIS: tuple[KpiSpec, ...] = (
    KpiSpec(
        "recovery_rate",
        "Recovery rate",
        d.RATE,
        d.recovery_rate,
        lambda data, start, end: d.recovery_rate(data.debts, data.payments, start, end),
        by_channel=False,
        key_label="currency",
        sources=("debts", "payments"),
    ),
    KpiSpec(
        "promise_kept_rate",
        "Promise-kept rate",
        d.RATE,
        d.promise_kept_rate,
        _one(lambda data: d.promise_kept_rate(data.promises)),
        sources=("promises",),
    ),
    KpiSpec(
        "cure_rate",
        "Cure rate",
        d.RATE,
        d.cure_rate,
        lambda data, start, end: {"": _cure(data, start, end, "cured")},
        by_channel=False,
        sources=("debts",),
    ),
    KpiSpec(
        "self_cure_rate",
        "Self-cure rate",
        d.RATE,
        d.self_cure_rate,
        lambda data, start, end: {"": _cure(data, start, end, "alone")},
        by_channel=False,
        sources=("debts",),
    ),
    KpiSpec(
        "right_party_contact_rate",
        "Right-party contact rate",
        d.RATE,
        d.right_party_contact_rate,
        _one(lambda data: d.right_party_contact_rate(data.conversations)),
        sources=("conversations",),
    ),
    KpiSpec(
        "handoff_rate",
        "Handoff rate",
        d.RATE,
        d.handoff_rate,
        _one(lambda data: d.handoff_rate(data.conversations)),
        sources=("conversations",),
    ),
    KpiSpec(
        "bot_containment",
        "Bot containment",
        d.RATE,
        d.bot_containment,
        _one(lambda data: d.bot_containment(data.conversations)),
        sources=("conversations",),
    ),
    KpiSpec(
        "first_response_median",
        "Staff first response, median",
        d.MINUTES,
        d.first_response_median,
        _one(lambda data: d.first_response_median(data.handoffs)),
        sources=("handoffs",),
    ),
    KpiSpec(
        "first_response_p90",
        "Staff first response, 90th percentile",
        d.MINUTES,
        d.first_response_p90,
        _one(lambda data: d.first_response_p90(data.handoffs)),
        sources=("handoffs",),
    ),
    KpiSpec(
        "csat_average",
        "CSAT, average",
        d.SCORE,
        d.csat_average,
        _one(lambda data: d.csat_average(data.csat)),
        sources=("csat",),
    ),
    KpiSpec(
        "csat_distribution",
        "CSAT, distribution",
        d.COUNT,
        d.csat_distribution,
        lambda data, _start, _end: d.csat_distribution(data.csat),
        key_label="score",
        sources=("csat",),
    ),
    KpiSpec(
        "dso",
        "DSO (days sales outstanding)",
        d.DAYS,
        d.days_sales_outstanding,
        lambda data, start, end: d.days_sales_outstanding(data.debts, data.payments, start, end),
        by_channel=False,
        key_label="currency",
        sources=("debts", "payments"),
    ),
    KpiSpec(
        "reminders_sent",
        "Reminders sent",
        d.COUNT,
        d.reminders_sent,
        _one(lambda data: d.reminders_sent(data.outbox)),
        sources=("outbox",),
    ),
    KpiSpec(
        "reminders_suppressed",
        "Reminders suppressed",
        d.COUNT,
        d.reminders_suppressed,
        lambda data, _start, _end: d.reminders_suppressed(data.outbox),
        key_label="reason",
        sources=("outbox",),
    ),
)
KPI_BY_KEY = {spec.key: spec for spec in KPIS}


@dataclass(frozen=True)
class Cell:
    """One figure of the report: a KPI over a window, for a group, under a key."""

    kpi: str
    start: date
    end: date
    dimension: str  # all, segment or channel
    group: str  # "all", or the segment or channel
    key: str  # the currency, CSAT score or suppression reason; "" for a single figure
    figure: Figure


@dataclass(frozen=True)
class Report:
    period: Period
    segments: list[str]
    channels: list[str]
    cells: list[Cell]

    def figure(
        self,
        kpi: str,
        *,
        dimension: str = ALL,
        group: str = ALL,
        key: str = "",
        window: tuple[date, date] | None = None,
    ) -> Figure | None:
        start, end = window or (self.period.start, self.period.end)
        return self._index.get((kpi, dimension, group, key, start, end))

    @cached_property
    def _index(self) -> dict[tuple, Figure]:
        return {
            (cell.kpi, cell.dimension, cell.group, cell.key, cell.start, cell.end): cell.figure
            for cell in self.cells
        }

    def groups(self, kpi: str, dimension: str) -> list[str]:
        """The segments or channels a KPI has figures for, in order."""
        names = self.segments if dimension == "segment" else self.channels
        present = {
            cell.group for cell in self.cells if cell.kpi == kpi and cell.dimension == dimension
        }
        return [name for name in names if name in present]

    def keys(self, kpi: str) -> list[str]:
        """The keys a KPI has figures under over the whole period (currencies, reasons…)."""
        seen: list[str] = []
        for cell in self.cells:
            if cell.kpi == kpi and cell.key not in seen:
                seen.append(cell.key)
        return seen


def only(data: KpiData, *, segment: str | None = None, channel: str | None = None) -> KpiData:
    """The rows of one segment, or of one channel (rows without a channel are dropped)."""
    changes = {}
    for name in ("debts", *_DATED):
        rows = getattr(data, name)
        if segment is not None:
            rows = [row for row in rows if row.segment == segment]
        if channel is not None:
            rows = [row for row in rows if getattr(row, "channel", None) == channel]
        changes[name] = rows
    return replace(data, **changes)


def split_by_bucket(data: KpiData, period: Period) -> list[KpiData]:
    """The data of each bucket: dated rows by their day; debts (read at boundaries) in all."""
    buckets = period.buckets()
    lists: list[dict[str, list]] = [{name: [] for name in _DATED} for _ in buckets]
    for name in _DATED:
        for row in getattr(data, name):
            if period.start <= row.day < period.end:
                index = (row.day - period.start).days // period.bucket_days
                lists[index][name].append(row)
    return [replace(data, **rows) for rows in lists]


def _within(data: KpiData, period: Period) -> KpiData:
    changes = {
        name: [row for row in getattr(data, name) if period.start <= row.day < period.end]
        for name in _DATED
    }
    return replace(data, **changes)


def build_report(data: KpiData, period: Period) -> Report:
    _CURE_COUNTS.clear()
    try:
        return _build(_within(data, period), period)
    finally:
        _CURE_COUNTS.clear()


def _build(data: KpiData, period: Period) -> Report:
    segments = sorted({row.segment for name in ("debts", *_DATED) for row in getattr(data, name)})
    channels = sorted({row.channel for name in _WITH_CHANNEL for row in getattr(data, name)})
    groups = [(ALL, ALL, data)]
    groups += [("segment", segment, only(data, segment=segment)) for segment in segments]
    groups += [("channel", channel, only(data, channel=channel)) for channel in channels]
    buckets = period.buckets()
    cells: list[Cell] = []
    for dimension, group, subset in groups:
        windows = [(period.start, period.end, subset)]
        windows += [
            (start, end, rows)
            for (start, end), rows in zip(buckets, split_by_bucket(subset, period), strict=True)
        ]
        for spec in KPIS:
            if dimension == "channel" and not spec.by_channel:
                continue
            # A group shows in a KPI only when the KPI has rows of it (no "none" channel of
            # the outbox under CSAT, no contact without debtor under the recovery rate).
            if dimension != ALL and not any(getattr(subset, name) for name in spec.sources):
                continue
            for start, end, rows in windows:
                for key, figure in spec.compute(rows, start, end).items():
                    cells.append(Cell(spec.key, start, end, dimension, group, key, figure))
    return Report(period, segments, channels, cells)
