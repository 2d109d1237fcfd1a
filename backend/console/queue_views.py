"""The staff queue and the console's live updates (server-sent events).

`GET /console/queue` lists the open handoffs, highest priority first, then the longest
waiting; "Take" assigns one to whoever pressed it (the first of two wins, the other is told).
`GET /console/events` is one server-sent event stream per open page: `queue` events carry
the queue's rows again whenever the queue changes, and, with `contact_id`, `message` events
carry the conversation's new transcript entries (each event's id is the last entry's, so a
reconnecting browser, which sends it back as Last-Event-ID, gets nothing twice). The stream
polls the database every `POLL_SECONDS` on its own short sessions, says nothing but a comment
when nothing changed, and ends when the browser goes away or after `STREAM_SECONDS` (the
browser reconnects by itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from backend.console import actions
from backend.console.conversation_data import transcript
from backend.console.templating import render, templates
from backend.contacts.models import ChannelContact
from backend.db import SessionDep, session_factory
from backend.deps import MAX_ROW_ID, Now, get_now
from backend.exceptions import DomainError, NotFound
from backend.handoffs import service as handoffs
from backend.handoffs.models import Handoff
from backend.staff.deps import CONSOLE_DEPENDENCIES, StaffDep

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 300.0

router = APIRouter(tags=["staff console"], dependencies=CONSOLE_DEPENDENCIES)


def waiting(seconds: int) -> str:
    """How long an item has waited, as staff read it: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


templates.env.filters.setdefault("waiting", waiting)


def queue_context(db_session: Session, now: datetime) -> dict[str, Any]:
    return {"items": handoffs.queue(db_session, now=now)}


@router.get("/queue", include_in_schema=False)
def queue_page(
    request: Request, db_session: SessionDep, staff: StaffDep, now: Now, error: str | None = None
) -> Response:
    return render(request, "queue.html", error=error, **queue_context(db_session, now))


@router.post("/queue/{handoff_id}/take", include_in_schema=False)
def take(
    handoff_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    request: Request,
    db_session: SessionDep,
    staff: StaffDep,
    now: Now,
) -> Response:
    """Take the item: the conversation opens, assigned to whoever took it."""
    handoff = db_session.get(Handoff, handoff_id)
    try:
        if handoff is None:
            raise NotFound("no such item in the queue", reason_code="handoff_not_found")
        actions.take(db_session=db_session, staff=staff, handoff=handoff, now=now)
    except DomainError as exc:
        db_session.rollback()
        return render(
            request,
            "queue.html",
            error=exc.message,
            status_code=exc.status_code,
            **queue_context(db_session, now),
        )
    return RedirectResponse(
        f"/console/conversations/{handoff.contact_id}", status.HTTP_303_SEE_OTHER
    )


# --- server-sent events -------------------------------------------------------------------


def sse(event: str, html: str, event_id: int | None = None) -> str:
    """One event; every line of the HTML is a data line (the browser joins them again)."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in html.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


def _queue_snapshot(sessions: Callable[[], Session], now: Callable[[], datetime]):
    with sessions() as db_session:
        items = handoffs.queue(db_session, now=now())
        key = tuple((i.handoff_id, i.status.value, i.assigned_staff_id) for i in items)
        return key, items


def _new_entries(sessions: Callable[[], Session], contact_id: int, after: int):
    with sessions() as db_session:
        contact = db_session.get(ChannelContact, contact_id)
        if contact is None:
            return []
        return transcript(db_session, contact, after=after)


@router.get("/events", include_in_schema=False)
async def events(
    request: Request,
    db_session: SessionDep,
    staff: StaffDep,
    contact_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    queue: Annotated[bool, Query()] = True,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The queue's changes (unless `queue=false`), and the conversation `contact_id`'s news."""
    # The request's session closes with the response; the stream opens its own, briefly.
    sessions = session_factory(db_session.get_bind())
    clock = request.app.dependency_overrides.get(get_now, get_now)
    if last_event_id and last_event_id.isdigit():
        after = max(after, min(int(last_event_id), MAX_ROW_ID))
    queue_row = templates.env.get_template("_queue_rows.html")
    entry_rows = templates.env.get_template("_transcript.html")
    render_context = {"request": request, "staff": staff, "csrf_token": _csrf(request)}

    async def stream() -> AsyncIterator[str]:
        nonlocal after
        key = None
        loop = asyncio.get_running_loop()
        started = last_beat = loop.time()
        if queue:
            key, _ = await to_thread.run_sync(partial(_queue_snapshot, sessions, clock))
        yield ": connected\n\n"
        while loop.time() - started < STREAM_SECONDS:
            if await request.is_disconnected():
                return
            await asyncio.sleep(POLL_SECONDS)
            if queue:
                new_key, items = await to_thread.run_sync(partial(_queue_snapshot, sessions, clock))
                if new_key != key:
                    key = new_key
                    yield sse("queue", queue_row.render(items=items, **render_context))
                    last_beat = loop.time()
            if contact_id is not None:
                entries = await to_thread.run_sync(
                    partial(_new_entries, sessions, contact_id, after)
                )
                if entries:
                    after = entries[-1].id
                    html = entry_rows.render(entries=entries, **render_context)
                    yield sse("message", html, event_id=after)
                    last_beat = loop.time()
            if loop.time() - last_beat >= HEARTBEAT_SECONDS:
                yield ": keep-alive\n\n"
                last_beat = loop.time()

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


def _csrf(request: Request) -> str:
    session = getattr(request.state, "staff_session", None)
    return session.csrf_token if session is not None else ""
