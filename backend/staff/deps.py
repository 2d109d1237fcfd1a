"""FastAPI dependencies of the staff console: who is signed in, their role, CSRF.

The `acordo_staff` cookie holds the session's token (HttpOnly, SameSite=Lax, Path=/console,
Secure outside development and tests). Without a live session, a page a browser navigates to
(or a plain form it posts) is redirected (303) to the sign-in page, which then comes back;
anything else (JSON, CSV, server-sent events, htmx requests) gets 401, and htmx is told where
to sign in (`HX-Redirect`).

Every request that changes something (not GET/HEAD/OPTIONS) must present the session's CSRF
token, as the form field `csrf_token` or the header `X-CSRF-Token` (base.html sets the header
on every htmx request); 403 otherwise.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request, Response, status

from backend.config import Settings
from backend.db import SessionDep
from backend.deps import Now, SettingsDep
from backend.staff import service
from backend.staff.models import StaffMember, StaffRole, StaffSession

COOKIE_NAME = "acordo_staff"
COOKIE_PATH = "/console"
LOGIN_PATH = "/console/login"
HOME = "/console/queue"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_timeouts(settings: Settings) -> dict[str, timedelta]:
    return {
        "idle_timeout": timedelta(minutes=settings.staff_session_idle_minutes),
        "max_age": timedelta(hours=settings.staff_session_max_hours),
    }


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.staff_session_max_hours * 3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=not settings.is_development,
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE_NAME,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=not settings.is_development,
    )


def wants_page(request: Request) -> bool:
    """A browser navigating or posting a plain form (not htmx, fetch, EventSource, a script)."""
    if request.headers.get("HX-Request"):
        return False
    return "text/html" in request.headers.get("accept", "")


def login_url(request: Request) -> str:
    """The sign-in page, coming back to this page (or, after a form post, the form's page)."""
    if request.method in SAFE_METHODS:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        referer = urlsplit(request.headers.get("referer", ""))
        same_site = not referer.netloc or referer.netloc == request.url.netloc
        target = referer.path if same_site and referer.path.startswith("/console/") else HOME
        target += f"?{referer.query}" if target == referer.path and referer.query else ""
    return f"{LOGIN_PATH}?next={quote(target, safe='')}"


def current_session(
    request: Request, db_session: SessionDep, settings: SettingsDep, now: Now
) -> StaffSession:
    """The live session of the request's cookie; else a redirect to sign in, or 401."""
    session = service.session_for(
        db_session, request.cookies.get(COOKIE_NAME), now, **session_timeouts(settings)
    )
    if session is None:
        if wants_page(request):
            raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": login_url(request)})
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"reason_code": "unauthenticated", "message": "sign in to the console first"},
            # htmx follows this header: the page goes to the sign-in form.
            headers={"HX-Redirect": login_url(request)},
        )
    db_session.commit()  # the idle expiry moved on
    request.state.staff_session = session
    request.state.staff = session.staff
    return session


StaffSessionDep = Annotated[StaffSession, Depends(current_session)]


def current_staff(session: StaffSessionDep) -> StaffMember:
    return session.staff


StaffDep = Annotated[StaffMember, Depends(current_staff)]


def require_role(role: StaffRole):
    """A dependency that lets only `role` through (403 with a message for anyone else)."""

    def staff_with_role(staff: StaffDep) -> StaffMember:
        if staff.role != role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail={
                    "reason_code": "forbidden_for_role",
                    "message": f"only a {role.value} may do this; you are signed in as "
                    f"{staff.role.value}",
                },
            )
        return staff

    return staff_with_role


SupervisorDep = Annotated[StaffMember, Depends(require_role(StaffRole.SUPERVISOR))]


async def csrf_protect(request: Request, session: StaffSessionDep) -> None:
    """On a request that changes something, the session's CSRF token must come with it."""
    if request.method in SAFE_METHODS:
        return
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and _is_form(request):
        form = await request.form()  # Starlette keeps it: the route reads the same form
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    check_csrf(session, presented)


def check_csrf(session: StaffSession, presented: str | None) -> None:
    """403 unless `presented` is the session's CSRF token."""
    if not presented or not secrets.compare_digest(presented.encode(), session.csrf_token.encode()):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail={
                "reason_code": "csrf_failed",
                "message": "the form was missing its security token or it was stale; reload "
                "the page and try again",
            },
        )


def _is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


CsrfDep = Depends(csrf_protect)
# For a console router: every route needs a session, and every POST its CSRF token.
CONSOLE_DEPENDENCIES = [CsrfDep]
