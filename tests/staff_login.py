"""Staff members and signed-in console clients for tests.

Hashes are made with cheap argon2 parameters (a real one takes a good part of a second on a
shared machine); they verify like any other, and the first real sign-in rehashes them.
`sign_in` opens the session directly, without the form; `sign_in_with_form` goes through it.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from functools import lru_cache

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from backend.console import install_console
from backend.staff import service
from backend.staff.deps import COOKIE_NAME
from backend.staff.models import StaffMember, StaffRole

PASSWORD = "correct horse battery staple"
_cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_numbers = itertools.count(1)


@lru_cache
def cheap_hash(password: str) -> str:
    return _cheap.hash(password)


def staff_member(
    db_session: Session,
    *,
    role: StaffRole = StaffRole.AGENT,
    email: str | None = None,
    display_name: str | None = None,
    password: str = PASSWORD,
    active: bool = True,
) -> StaffMember:
    number = next(_numbers)
    member = StaffMember(
        email=email or f"{role.value}{number}@staff.test",
        display_name=display_name or f"{role.value.title()} {number}",
        password_hash=cheap_hash(password),
        role=role,
        active=active,
    )
    db_session.add(member)
    db_session.commit()
    return member


def with_console(app: FastAPI) -> FastAPI:
    """The app with the console's shell (`install_console`), unless it has it already.

    Call it before a TestClient starts the app: error handlers are fixed at start-up.
    """
    if "/console/login" not in {getattr(route, "path", None) for route in app.routes}:
        install_console(app)
    return app


def sign_in(client: TestClient, db_session: Session, staff: StaffMember, now: datetime) -> str:
    """Give the client a session cookie for `staff`; returns the session's CSRF token."""
    token, session = service.open_session(db_session, staff=staff, now=now)
    db_session.commit()
    client.cookies.set(COOKIE_NAME, token)
    return session.csrf_token


def sign_in_with_form(
    client: TestClient, email: str, password: str = PASSWORD, next_url: str = ""
) -> Response:
    """Fill in and post the sign-in form as a browser would (no redirects followed)."""
    client.get("/console/login")
    return client.post(
        "/console/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": client.cookies.get("acordo_login_csrf", ""),
            "next": next_url,
        },
        follow_redirects=False,
    )
