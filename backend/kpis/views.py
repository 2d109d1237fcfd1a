"""The KPI page of the staff console and its CSV export (mounted under /console).

Both need a staff session. The period is chosen by its first and last day (`since`,
`until`, both included; the last 30 days by default) and optionally one creditor.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from backend.console.templating import PAGE_HEADERS, render
from backend.creditors.models import Creditor
from backend.db import SessionDep
from backend.deps import MAX_ROW_ID, Now
from backend.kpis import page, queries
from backend.kpis.report import MAX_DAYS, Period, build_report
from backend.staff.deps import StaffDep

router = APIRouter(tags=["staff console"])

DEFAULT_DAYS = 30

SinceQuery = Annotated[date | None, Query(description="the period's first day")]
UntilQuery = Annotated[date | None, Query(description="the period's last day (included)")]
CreditorQuery = Annotated[str | None, Query(description="one creditor's id; empty for all")]


def creditor_id(creditor: str | None) -> int | None:
    """The form's creditor: an id, or empty for every creditor."""
    if not creditor or not creditor.isdigit():
        return None
    if int(creditor) > MAX_ROW_ID:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail={"reason_code": "invalid_creditor", "message": "no creditor has this id"},
        )
    return int(creditor)


def choose_period(since: date | None, until: date | None, today: date) -> Period:
    """The days asked for, or the last 30 days up to today; 400 for a period that is none."""
    try:
        last = until or today
        first = since or last - timedelta(days=DEFAULT_DAYS - 1)
        return Period(first, last + timedelta(days=1))
    # OverflowError: a day next to the calendar's ends (year 1 or 9999) has no neighbour.
    except (ValueError, OverflowError) as exc:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail={
                "reason_code": "invalid_period",
                "message": f"choose a first day on or before the last, at most {MAX_DAYS} days",
            },
        ) from exc


@router.get("/kpis", response_class=HTMLResponse)
def kpi_page(
    request: Request,
    staff: StaffDep,
    db_session: SessionDep,
    now: Now,
    since: SinceQuery = None,
    until: UntilQuery = None,
    creditor: CreditorQuery = None,
) -> HTMLResponse:
    period = choose_period(since, until, now.date())
    chosen = creditor_id(creditor)
    data = queries.load(db_session=db_session, period=period, creditor_id=chosen)
    report = build_report(data, period)
    creditors = db_session.execute(select(Creditor.id, Creditor.name).order_by(Creditor.name))
    last_day = period.end - timedelta(days=1)
    query = f"since={period.start.isoformat()}&until={last_day.isoformat()}"
    if chosen is not None:
        query += f"&creditor={chosen}"
    presets = [
        (f"Last {days} days", (now.date() - timedelta(days=days - 1)).isoformat())
        for days in (7, 30, 90, 365)
    ]
    return render(
        request,
        "kpis.html",
        period=period,
        last_day=last_day,
        today=now.date().isoformat(),
        presets=presets,
        creditor=chosen,
        creditors=list(creditors),
        sections=page.sections(report),
        segments=report.segments,
        channels=report.channels,
        csv_url=f"/console/kpis.csv?{query}",
    )


@router.get("/kpis.csv")
def kpi_csv(
    staff: StaffDep,
    db_session: SessionDep,
    now: Now,
    since: SinceQuery = None,
    until: UntilQuery = None,
    creditor: CreditorQuery = None,
) -> Response:
    period = choose_period(since, until, now.date())
    data = queries.load(db_session=db_session, period=period, creditor_id=creditor_id(creditor))
    last_day = period.end - timedelta(days=1)
    name = f"acordo-kpis-{period.start.isoformat()}-{last_day.isoformat()}.csv"
    return Response(
        page.csv_text(build_report(data, period)),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": PAGE_HEADERS["Cache-Control"],
            "X-Content-Type-Options": "nosniff",
        },
    )
