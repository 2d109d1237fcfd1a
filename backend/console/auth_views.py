"""Signing in and out of the console, its home, and the supervisors' list of staff.

The sign-in form has no session to carry a CSRF token yet, so it uses a double-submit cookie:
the page sets a random `acordo_login_csrf` cookie and puts the same value in the form; the
post must bring both, equal. A cross-site page can make the browser send the cookie, but it
cannot read it to put it in the form.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response

from backend.config import Settings
from backend.console.templating import render
from backend.db import SessionDep
from backend.deps import Now, SettingsDep
from backend.staff import service
from backend.staff.audit import record_staff_action
from backend.staff.deps import (
    COOKIE_NAME,
    CSRF_FIELD,
    CSRF_HEADER,
    HOME,
    LOGIN_PATH,
    CsrfDep,
    StaffDep,
    StaffSessionDep,
    SupervisorDep,
    check_csrf,
    clear_session_cookie,
    session_timeouts,
    set_session_cookie,
)

log = logging.getLogger(__name__)

LOGIN_CSRF_COOKIE = "acordo_login_csrf"
LOGIN_CSRF_PATH = LOGIN_PATH

router = APIRouter(tags=["staff console"])


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a console page of this site, else the queue."""
    if not target:
        return HOME
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/console")
        or target.startswith("//")
        or "\\" in target
        or parts.path.startswith("/console/login")
    ):
        return HOME
    return target


def _login_page(
    request: Request,
    settings: Settings,
    *,
    email: str = "",
    next_url: str = HOME,
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if len(token) < 32 or status_code == status.HTTP_403_FORBIDDEN:
        token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        csrf_token=token,
        email=email,
        next_url=next_url,
        error=error,
        status_code=status_code,
        headers=headers,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=LOGIN_CSRF_PATH,
        httponly=True,
        samesite="strict",
        secure=not settings.is_development,
    )
    return response


@router.get("/login", include_in_schema=False)
def login_form(
    request: Request, db_session: SessionDep, settings: SettingsDep, now: Now, next: str = ""
) -> Response:
    session = service.session_for(
        db_session, request.cookies.get(COOKIE_NAME), now, **session_timeouts(settings)
    )
    db_session.commit()
    if session is not None:
        return RedirectResponse(safe_next(next), status.HTTP_303_SEE_OTHER)
    return _login_page(request, settings, next_url=safe_next(next))


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    db_session: SessionDep,
    settings: SettingsDep,
    now: Now,
    email: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    next_url = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not expected or not secrets.compare_digest(csrf_token.encode(), expected.encode()):
        return _login_page(
            request,
            settings,
            email=email,
            next_url=next_url,
            error="The sign-in form had expired. Please try again.",
            status_code=status.HTTP_403_FORBIDDEN,
        )
    throttle = service.throttle_for(request.app.state, settings.staff_login_rate_limit)
    try:
        staff = service.authenticate(
            db_session,
            email=email,
            password=password,
            now=now,
            throttle=throttle,
            address=request.client.host if request.client else None,
        )
    except service.LoginThrottled as exc:
        log.warning("console sign-in throttled")
        return _login_page(
            request,
            settings,
            email=email,
            next_url=next_url,
            error=exc.message,
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(exc.retry_after_seconds)},
        )
    except service.InvalidCredentials as exc:
        log.info("console sign-in refused")
        return _login_page(
            request,
            settings,
            email=email,
            next_url=next_url,
            error=exc.message,
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    # A new token at every sign-in; whatever session this browser had ends.
    previous = service.session_for(db_session, request.cookies.get(COOKIE_NAME), now)
    if previous is not None:
        service.end_session(db_session, session=previous, now=now)
    token, _session = service.open_session(
        db_session, staff=staff, now=now, **session_timeouts(settings)
    )
    record_staff_action(db_session, staff=staff, event="login", now=now)
    db_session.commit()
    log.info("staff %s signed in", staff.id)
    response = RedirectResponse(next_url, status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, token, settings)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_CSRF_PATH)
    return response


@router.post("/logout", include_in_schema=False)
def logout(
    request: Request,
    db_session: SessionDep,
    settings: SettingsDep,
    now: Now,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
) -> Response:
    """Ends the session (its CSRF token required); a dead session just goes to sign-in."""
    session = service.session_for(db_session, request.cookies.get(COOKIE_NAME), now)
    if session is not None:
        check_csrf(session, request.headers.get(CSRF_HEADER) or csrf_token)
        service.end_session(db_session, session=session, now=now)
        record_staff_action(db_session, staff=session.staff, event="logout", now=now)
        db_session.commit()
    response = RedirectResponse(LOGIN_PATH, status.HTTP_303_SEE_OTHER)
    clear_session_cookie(response, settings)
    return response


@router.get("/", include_in_schema=False)
def home(_staff: StaffDep) -> RedirectResponse:
    return RedirectResponse(HOME, status.HTTP_303_SEE_OTHER)


@router.get("/me")
def me(session: StaffSessionDep) -> dict[str, object]:
    """Who is signed in, and the session's CSRF token for scripts (same-origin reads only)."""
    staff = session.staff
    return {
        "id": staff.id,
        "display_name": staff.display_name,
        "role": staff.role.value,
        "csrf_token": session.csrf_token,
    }


@router.get("/staff", include_in_schema=False, dependencies=[CsrfDep])
def staff_list(request: Request, db_session: SessionDep, _supervisor: SupervisorDep) -> Response:
    """Supervisors only: who can sign in to the console."""
    return render(request, "staff.html", members=service.list_staff(db_session))
