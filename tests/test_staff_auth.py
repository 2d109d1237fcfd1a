"""Staff sign-in: argon2id hashes, server-side sessions, CSRF, throttling, roles, the audit log
and the `staff` commands."""

from __future__ import annotations

import argparse
import hashlib
import io
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.console.auth_views import safe_next
from backend.db import session_factory
from backend.enums import Actor
from backend.interactions.models import Interaction
from backend.staff import cli as staff_cli
from backend.staff import passwords, service
from backend.staff.audit import record_staff_action
from backend.staff.deps import COOKIE_NAME, CsrfDep
from backend.staff.models import StaffMember, StaffRole, StaffSession
from tests.staff_login import PASSWORD, sign_in, sign_in_with_form, staff_member, with_console

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def console(app):
    """A browser without a session (the shell is installed before the app starts)."""
    with TestClient(with_console(app)) as client:
        yield client


def test_passwords_are_argon2id_and_verify_only_themselves():
    hashed = passwords.hash_password("a long enough passphrase")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify_password(hashed, "a long enough passphrase")
    assert not passwords.verify_password(hashed, "a long enough passphrasE")
    assert not passwords.verify_password("not a hash", "a long enough passphrase")
    assert not passwords.needs_rehash(hashed)


def test_a_short_password_is_refused_with_the_reason():
    with pytest.raises(passwords.WeakPassword, match="at least 12 characters"):
        passwords.hash_password("short pass")


def test_signing_in_sets_a_session_cookie_and_keeps_only_its_hash(console, db_session, clock):
    agent = staff_member(db_session, email="maria@staff.test")

    answer = sign_in_with_form(console, "Maria@Staff.test", next_url="/console/staff")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/staff"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE_NAME + "=")
    )
    assert "HttpOnly" in cookie and "Path=/console" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # tests run as development; production cookies are Secure
    token = cookie.split(";")[0].split("=", 1)[1]
    session = db_session.scalars(select(StaffSession)).one()
    assert session.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert session.staff_id == agent.id
    assert console.get("/console/me").json()["display_name"] == agent.display_name
    db_session.refresh(agent)
    assert agent.last_login_at == clock.now()
    # The test's cheap hash was replaced by one with today's parameters.
    assert not passwords.needs_rehash(agent.password_hash)
    logged = db_session.scalars(select(Interaction).where(Interaction.event == "staff.login")).one()
    assert (logged.actor, logged.actor_ref) == (Actor.AGENT, str(agent.id))


def test_wrong_password_and_unknown_email_get_the_same_answer(console, db_session):
    staff_member(db_session, email="maria@staff.test")

    wrong_password = sign_in_with_form(console, "maria@staff.test", "not her password!")
    unknown_email = sign_in_with_form(console, "nobody@staff.test", PASSWORD)

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert "do not match an active account" in wrong_password.text
    assert wrong_password.text.replace("maria@staff.test", "E") == unknown_email.text.replace(
        "nobody@staff.test", "E"
    )
    assert COOKIE_NAME not in console.cookies
    assert db_session.scalars(select(StaffSession)).all() == []


def test_a_deactivated_account_cannot_sign_in(console, db_session):
    staff_member(db_session, email="left@staff.test", active=False)

    assert sign_in_with_form(console, "left@staff.test").status_code == 401


def test_sign_in_is_refused_after_five_failures(console, db_session):
    staff_member(db_session, email="maria@staff.test")
    staff_member(db_session, email="joao@staff.test")
    for _ in range(5):
        assert sign_in_with_form(console, "maria@staff.test", "a wrong guess!!").status_code == 401

    refused = sign_in_with_form(console, "maria@staff.test", PASSWORD)

    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.text
    assert int(refused.headers["Retry-After"]) > 0
    # The same address guessing another account is slowed down too.
    assert sign_in_with_form(console, "joao@staff.test", PASSWORD).status_code == 429


def test_signing_out_ends_the_session(console, db_session, clock):
    agent = staff_member(db_session)
    csrf = sign_in(console, db_session, agent, clock.now())

    answer = console.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login"
    assert db_session.scalars(select(StaffSession)).one().revoked_at == clock.now()
    assert console.get("/console/me").status_code == 401


def test_a_session_ends_after_eight_idle_hours_and_a_day_at_most(console, db_session, clock):
    agent = staff_member(db_session)
    sign_in(console, db_session, agent, clock.now())
    started = clock.fixed

    for hours in (7, 14, 21):  # each request moves the idle expiry on
        clock.fixed = started + timedelta(hours=hours)
        assert console.get("/console/me").status_code == 200
    clock.fixed = started + timedelta(hours=24)
    page = console.get("/console/", headers=HTML, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2F"

    sign_in(console, db_session, agent, clock.now())
    clock.fixed += timedelta(hours=8, minutes=1)
    assert console.get("/console/me").status_code == 401


def test_use_is_written_down_at_most_once_a_minute(db_session, clock):
    agent = staff_member(db_session)
    token, opened = service.open_session(db_session, staff=agent, now=clock.now())
    db_session.commit()

    soon = service.session_for(db_session, token, clock.now() + timedelta(seconds=30))
    assert soon.last_seen_at == clock.now()
    later = service.session_for(db_session, token, clock.now() + timedelta(seconds=61))
    assert later.last_seen_at == clock.now() + timedelta(seconds=61)
    assert later.expires_at == clock.now() + timedelta(seconds=61) + service.IDLE_TIMEOUT
    assert service.session_for(db_session, "not-a-token", clock.now()) is None


def test_sessions_long_over_are_purged(db_session, clock):
    agent = staff_member(db_session)
    now = clock.now()
    _, signed_out = service.open_session(db_session, staff=agent, now=now - timedelta(days=40))
    service.end_session(db_session, session=signed_out, now=now - timedelta(days=40))
    service.open_session(db_session, staff=agent, now=now - timedelta(days=31))  # expired
    _, recent = service.open_session(db_session, staff=agent, now=now - timedelta(days=2))
    _, live = service.open_session(db_session, staff=agent, now=now)
    db_session.commit()

    assert service.purge_sessions(db_session, now=now) == 2
    db_session.commit()
    assert {s.id for s in db_session.scalars(select(StaffSession))} == {recent.id, live.id}


def test_posts_without_the_right_csrf_token_are_refused(console, db_session, clock):
    agent = staff_member(db_session)
    csrf = sign_in(console, db_session, agent, clock.now())

    missing = console.post("/console/logout", follow_redirects=False)
    wrong = console.post("/console/logout", data={"csrf_token": "x" * 43}, follow_redirects=False)

    assert missing.status_code == wrong.status_code == 403
    assert db_session.scalars(select(StaffSession)).one().revoked_at is None
    by_header = console.post(
        "/console/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False
    )
    assert by_header.status_code == 303


def test_the_sign_in_form_needs_its_own_csrf_cookie(console, db_session):
    staff_member(db_session, email="maria@staff.test")
    form = {"email": "maria@staff.test", "password": PASSWORD, "csrf_token": "forged" * 8}

    answer = console.post("/console/login", data=form, follow_redirects=False)

    assert answer.status_code == 403
    assert COOKIE_NAME not in console.cookies


def test_an_agent_is_refused_supervisor_pages(console, db_session, clock):
    agent = staff_member(db_session, role=StaffRole.AGENT)
    supervisor = staff_member(db_session, role=StaffRole.SUPERVISOR)

    sign_in(console, db_session, agent, clock.now())
    refused = console.get("/console/staff", headers=HTML)
    assert refused.status_code == 403
    assert "only a supervisor may do this" in refused.text and "<h1" in refused.text
    by_script = console.get("/console/staff")
    assert by_script.status_code == 403
    assert by_script.json()["detail"]["reason_code"] == "forbidden_for_role"

    sign_in(console, db_session, supervisor, clock.now())
    page = console.get("/console/staff", headers=HTML)
    assert page.status_code == 200
    assert agent.email in page.text and "Sign out" in page.text


def test_without_a_session_pages_redirect_and_everything_else_is_401(console):
    page = console.get("/console/staff?x=1", headers=HTML, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2Fstaff%3Fx%3D1"

    assert console.get("/console/me").status_code == 401
    htmx = console.get("/console/staff", headers={**HTML, "HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"].startswith("/console/login?next=")
    assert console.get("/console/static/htmx.min.js").status_code == 200


def test_a_form_posted_without_a_session_goes_to_sign_in_and_back(app, console):
    app.add_api_route("/console/probe", lambda: {}, methods=["POST"], dependencies=[CsrfDep])
    form_page = "http://testserver/console/conversations/3?tab=plans"

    posted = console.post(
        "/console/probe", headers={**HTML, "Referer": form_page}, follow_redirects=False
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == (
        "/console/login?next=%2Fconsole%2Fconversations%2F3%3Ftab%3Dplans"
    )
    assert console.post("/console/probe").status_code == 401


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/console", "/chat", "/console/login"]
)
def test_after_sign_in_only_console_pages_are_followed(target):
    assert safe_next(target) == "/console/queue"
    assert safe_next("/console/conversations/7?tab=debts") == "/console/conversations/7?tab=debts"


def test_staff_actions_are_logged_with_who_did_them(db_session, clock):
    supervisor = staff_member(db_session, role=StaffRole.SUPERVISOR)

    record_staff_action(
        db_session,
        staff=supervisor,
        event="plan.exception_approved",
        data={"reason": "hardship"},
        now=clock.now(),
    )
    db_session.commit()

    logged = db_session.scalars(select(Interaction)).one()
    assert logged.event == "staff.plan.exception_approved"
    assert (logged.actor, logged.actor_ref) == (Actor.AGENT, str(supervisor.id))
    assert logged.data == {"staff_role": "supervisor", "reason": "hardship"}
    assert logged.occurred_at == clock.now()


def test_staff_commands_add_list_and_deactivate(engine, db_session, clock):
    sessions = session_factory(engine)

    def run(*argv: str, stdin: str = "", ask=None) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser()
        staff_cli.add_commands(parser.add_subparsers(dest="command"))
        out, err = io.StringIO(), io.StringIO()
        status = staff_cli.run(
            parser.parse_args(argv),
            sessions=sessions,
            now=clock.now(),
            stdin=io.StringIO(stdin),
            out=out,
            err=err,
            ask_password=ask or (lambda _prompt: pytest.fail("asked for a password")),
        )
        return status, out.getvalue(), err.getvalue()

    add = ("staff", "add", "--email", "Ana@Staff.test", "--name", "Ana Lima", "--role")
    assert run(*add, "supervisor", "--password-stdin", stdin="a long passphrase\n")[0] == 0
    assert run(*add, "agent", "--password-stdin", stdin="a long passphrase\n")[0] == 1
    status, _, err = run(
        "staff", "add", "--email", "bo@staff.test", "--name", "Bo", "--role", "agent",
        ask=lambda prompt: "first passphrase" if "again" not in prompt else "second passphrase",
    )  # fmt: skip
    assert status == 2 and "differ" in err
    status, _, err = run(
        "staff", "add", "--email", "bo@staff.test", "--name", "Bo", "--role", "agent",
        "--password-stdin", stdin="too short\n",
    )  # fmt: skip
    assert status == 1 and "at least 12 characters" in err

    status, listing, _ = run("staff", "list")
    assert status == 0 and "ana@staff.test" in listing and "supervisor" in listing
    ana = db_session.scalars(select(StaffMember)).one()
    assert passwords.verify_password(ana.password_hash, "a long passphrase")

    service.open_session(db_session, staff=ana, now=clock.now())
    db_session.commit()
    assert (
        run("staff", "password", "ana@staff.test", "--password-stdin", stdin="renewed pass")[0] == 0
    )
    db_session.expire_all()
    assert passwords.verify_password(ana.password_hash, "renewed pass")
    assert db_session.scalars(select(StaffSession)).one().revoked_at == clock.now()

    service.open_session(db_session, staff=ana, now=clock.now())
    db_session.commit()
    assert run("staff", "deactivate", "ana@staff.test")[0] == 0
    assert run("staff", "deactivate", "nobody@staff.test")[0] == 1
    db_session.expire_all()
    assert not db_session.get(StaffMember, ana.id).active
    assert all(s.revoked_at for s in db_session.scalars(select(StaffSession)))
    events = db_session.scalars(select(Interaction.event).order_by(Interaction.id)).all()
    assert events == ["staff.created", "staff.password_set", "staff.deactivated"]


def test_the_demo_has_one_agent_and_one_supervisor(db_session, monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(memory_cost=1024))

    service.seed_demo_staff(db_session)
    service.seed_demo_staff(db_session)  # again: nothing new
    db_session.commit()

    members = {m.email: m for m in service.list_staff(db_session)}
    assert {e: m.role for e, m in members.items()} == {
        "agent@acordo.demo": StaffRole.AGENT,
        "supervisor@acordo.demo": StaffRole.SUPERVISOR,
    }
    for email, _name, _role, password in service.DEMO_STAFF:
        assert passwords.verify_password(members[email].password_hash, password)
