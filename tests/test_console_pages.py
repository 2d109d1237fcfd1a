"""The console's queue and conversation pages, their forms, and the live event stream.

Signed in with a session opened directly (tests/staff_login.py); the forms post their CSRF
token as a browser would. The event stream is read from a real server (uvicorn on a loopback
port): the test client would wait for a stream that never ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from backend.config import Settings
from backend.console import conversation_views, queue_views
from backend.debts.models import Debt, DebtStatus
from backend.disputes.models import Dispute, DisputeReason, DisputeStatus
from backend.enums import Actor, Channel, Language
from backend.gateway.channels import webchat_sessions
from backend.gateway.inbound import RECEIVED, SENT
from backend.handoffs import service as handoffs
from backend.handoffs.models import Handoff, HandoffStatus
from backend.interactions.models import Direction, Interaction
from backend.interactions.service import record
from backend.payments.models import ClaimStatus, PaymentClaim
from backend.staff.deps import COOKIE_NAME
from backend.staff.models import StaffRole
from tests import factories
from tests.staff_login import sign_in, staff_member, with_console

HTML = {"Accept": "text/html"}


def with_console_pages(app):
    with_console(app)
    paths = {getattr(route, "path", None) for route in app.routes}
    if "/console/queue" not in paths:
        app.include_router(queue_views.router, prefix="/console")
    if "/console/conversations/{contact_id}" not in paths:
        app.include_router(conversation_views.router, prefix="/console")
    return app


@pytest.fixture
def console(app, anonymous_client):
    with_console_pages(app)
    return anonymous_client


@pytest.fixture
def now(clock):
    return clock.fixed


def conversation(db_session, now, *, name="Ana Souza", priority=0, queued_ago=timedelta(0)):
    """A web chat contact of a debtor, escalated `queued_ago`."""
    debtor, debt = factories.debtor_with_debt(db_session)
    debtor.full_name = name
    debtor.recovery_priority_minor = priority
    session_id = webchat_sessions.issue(secret=Settings(environment="test").contact_signing_secret)
    contact = factories.contact(db_session, debtor, external_id=session_id, language=Language.PT_BR)
    record(
        db_session=db_session,
        event=RECEIVED,
        actor=Actor.DEBTOR,
        direction=Direction.INBOUND,
        contact=contact,
        text=f"{name} quer falar com uma pessoa",
    )
    handoffs.escalate(db_session, contact=contact, reason="request_human", now=now - queued_ago)
    db_session.commit()
    return contact


# --- authorisation --------------------------------------------------------------------------


def test_without_a_session_pages_redirect_and_the_rest_is_401(console, db_session, now):
    contact = conversation(db_session, now)

    page = console.get("/console/queue", headers=HTML, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/login")
    assert console.get("/console/events").status_code == 401
    posted = console.post(
        f"/console/conversations/{contact.id}/reply", data={"text": "hi", "csrf_token": "x"}
    )
    assert posted.status_code == 401
    assert handoffs.owner_of(db_session, contact).status is HandoffStatus.QUEUED


def test_an_agent_is_refused_supervisor_actions(console, db_session, now):
    contact = conversation(db_session, now)
    contact.debtor.verification_locked_until = now + timedelta(hours=6)
    agent = staff_member(db_session)
    csrf = sign_in(console, db_session, agent, now)
    debt = contact.debtor.debts[0]

    unlock = console.post(
        f"/console/conversations/{contact.id}/unlock",
        data={"csrf_token": csrf, "note": "called the number on file"},
    )
    taken = console.post(
        f"/console/conversations/{contact.id}/take-over",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert taken.status_code == 303
    plan = console.post(
        f"/console/conversations/{contact.id}/plans",
        data={
            "csrf_token": csrf,
            "debt_reference": debt.reference,
            "installments": "30",
            "exception_reason": "hardship, lost their job in October",
        },
    )

    assert unlock.status_code == 403
    assert plan.status_code == 403
    assert "only a supervisor" in plan.text
    db_session.refresh(contact.debtor)
    assert contact.debtor.verification_locked_until is not None


def test_a_supervisor_lifts_a_lock_and_approves_an_exception(console, db_session, now):
    contact = conversation(db_session, now)
    contact.debtor.verification_locked_until = now + timedelta(hours=6)
    supervisor = staff_member(db_session, role=StaffRole.SUPERVISOR)
    csrf = sign_in(console, db_session, supervisor, now)
    debt = contact.debtor.debts[0]

    unlock = console.post(
        f"/console/conversations/{contact.id}/unlock",
        data={"csrf_token": csrf, "note": "called the number on file, asked the security question"},
        follow_redirects=False,
    )
    plan = console.post(
        f"/console/conversations/{contact.id}/plans",
        data={
            "csrf_token": csrf,
            "debt_reference": debt.reference,
            "installments": "30",
            "exception_reason": "hardship, lost their job in October",
        },
        follow_redirects=False,
    )

    assert unlock.status_code == 303
    assert plan.status_code == 303
    page = console.get(plan.headers["location"])
    assert "Plan agreed: 31 payment(s)" in page.text  # the down payment, then 30
    # The transcript notes both actions, with who did them and the exception's reason.
    assert "approved a plan outside the policy: hardship, lost their job in October" in page.text
    assert "lifted the verification lock" in page.text
    db_session.refresh(contact.debtor)
    assert contact.debtor.verification_locked_until is None


# --- the queue ------------------------------------------------------------------------------


def test_the_queue_is_ordered_by_priority_then_waiting_and_take_opens_it(console, db_session, now):
    conversation(
        db_session, now, name="Bruno Alves", priority=1000, queued_ago=timedelta(minutes=5)
    )
    oldest = conversation(
        db_session, now, name="Carla Dias", priority=1000, queued_ago=timedelta(minutes=40)
    )
    conversation(db_session, now, name="Diego Rocha", priority=0, queued_ago=timedelta(hours=3))
    agent = staff_member(db_session)
    csrf = sign_in(console, db_session, agent, now)

    page = console.get("/console/queue", headers=HTML)

    assert page.status_code == 200
    text = page.text
    assert text.index("Carla") < text.index("Bruno") < text.index("Diego")
    assert "40 min" in text and "3 h 00 min" in text
    assert "Carla Dias quer falar com uma pessoa" in text
    assert 'sse-connect="/console/events"' in text
    handoff = handoffs.owner_of(db_session, oldest)
    taken = console.post(
        f"/console/queue/{handoff.id}/take", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert taken.status_code == 303
    assert taken.headers["location"] == f"/console/conversations/{oldest.id}"
    db_session.refresh(handoff)
    assert handoff.status is HandoffStatus.ASSIGNED
    assert handoff.assigned_staff_id == agent.id
    again = console.post(f"/console/queue/{handoff.id}/take", data={"csrf_token": csrf})
    assert again.status_code == 409


# --- the conversation -----------------------------------------------------------------------


def test_the_transcript_shows_every_actor_and_the_document_is_masked(console, db_session, now):
    contact = conversation(db_session, now)
    record(
        db_session=db_session,
        event=SENT,
        actor=Actor.BOT,
        direction=Direction.OUTBOUND,
        contact=contact,
        text="Olá! Sou a assistente virtual.",
    )
    record(
        db_session=db_session,
        event=SENT,
        actor=Actor.SYSTEM,
        direction=Direction.OUTBOUND,
        contact=contact,
        text="Lembrete: sua fatura venceu.",
        data={"kind": "reminder", "buttons": []},
    )
    db_session.commit()
    agent = staff_member(db_session, display_name="Bruna Lima")
    csrf = sign_in(console, db_session, agent, now)

    sent = console.post(
        f"/console/conversations/{contact.id}/reply",
        data={"csrf_token": csrf, "text": "Oi Ana, aqui é a Bruna."},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    page = console.get(f"/console/conversations/{contact.id}")

    text = page.text
    assert "Ana Souza quer falar com uma pessoa" in text
    assert "Olá! Sou a assistente virtual." in text and "Assistant" in text
    assert "Lembrete: sua fatura venceu." in text and "Assistant · reminder" in text
    assert "Oi Ana, aqui é a Bruna." in text and "Bruna Lima" in text
    assert "Queued for staff (request human)" in text
    debtor = contact.debtor
    assert debtor.masked_document in text
    assert debtor.document_number not in text
    assert debtor.debts[0].reference in text  # the debt, its ledger and actions
    # The web chat's page receives the reply.
    polled = console.get("/chat/api/messages", headers={"X-Chat-Session": contact.external_id})
    assert [m["text"] for m in polled.json()["messages"]] == [
        "Lembrete: sua fatura venceu.",
        "Oi Ana, aqui é a Bruna.",
    ]


def test_search_finds_a_debtor_by_reference_or_name(console, db_session, now):
    contact = conversation(db_session, now, name="Elisa Prado")
    sign_in(console, db_session, staff_member(db_session), now)

    by_name = console.get("/console/conversations", params={"q": "prado"})
    by_ref = console.get("/console/conversations", params={"q": contact.debtor.external_ref})
    nobody = console.get("/console/conversations", params={"q": "zzz"})

    assert f"/console/conversations/{contact.id}" in by_name.text
    assert f"/console/conversations/{contact.id}" in by_ref.text
    assert "No conversation found." in nobody.text


def test_take_over_then_hand_back_gives_the_conversation_to_the_bot(console, db_session, now):
    debtor, _ = factories.debtor_with_debt(db_session)
    contact = factories.contact(db_session, debtor, channel=Channel.WEBCHAT)
    db_session.commit()
    csrf = sign_in(console, db_session, staff_member(db_session), now)

    taken = console.post(
        f"/console/conversations/{contact.id}/take-over", data={"csrf_token": csrf}
    )
    assert "You have the conversation" in taken.text
    assert handoffs.owner_of(db_session, contact).taken_by_staff
    back = console.post(f"/console/conversations/{contact.id}/hand-back", data={"csrf_token": csrf})
    assert "Handed back" in back.text
    assert handoffs.owner_of(db_session, contact) is None
    audit = db_session.scalars(
        select(Interaction.event).where(Interaction.event.like("staff.%")).order_by(Interaction.id)
    ).all()
    assert audit == ["staff.take_over", "staff.hand_back"]


# --- live updates ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def live_server(app) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def read_until(lines: Iterator[str], wanted: str, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    for line in lines:
        seen.append(line)
        if wanted in line or time.monotonic() > deadline:
            break
    return seen


def test_the_event_stream_says_when_a_handoff_is_queued(app, console, db_session, now, monkeypatch):
    monkeypatch.setattr(queue_views, "POLL_SECONDS", 0.2)
    agent = staff_member(db_session)
    sign_in(console, db_session, agent, now)
    cookie = console.cookies.get(COOKIE_NAME)

    with (
        live_server(app) as base_url,
        httpx.Client(base_url=base_url, timeout=10, cookies={COOKIE_NAME: cookie}) as http,
        http.stream("GET", "/console/events") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert read_until(lines, "connected", 5)[-1] == ": connected"
        conversation(db_session, now, name="Fabio Neri")
        seen = read_until(lines, "Fabio", 8)

    assert "event: queue" in seen
    assert any("Fabio" in line for line in seen)
    assert db_session.scalars(select(Handoff)).one().status is HandoffStatus.QUEUED


def test_the_event_stream_carries_a_conversations_new_messages(
    app, console, db_session, now, monkeypatch
):
    monkeypatch.setattr(queue_views, "POLL_SECONDS", 0.2)
    contact = conversation(db_session, now)
    last = db_session.scalar(select(func.max(Interaction.id)))
    sign_in(console, db_session, staff_member(db_session), now)
    cookie = console.cookies.get(COOKIE_NAME)
    url = f"/console/events?contact_id={contact.id}&after={last}&queue=false"

    with (
        live_server(app) as base_url,
        httpx.Client(base_url=base_url, timeout=10, cookies={COOKIE_NAME: cookie}) as http,
        http.stream("GET", url) as stream,
    ):
        lines = stream.iter_lines()
        assert read_until(lines, "connected", 5)[-1] == ": connected"
        said = record(
            db_session=db_session,
            event=RECEIVED,
            actor=Actor.DEBTOR,
            direction=Direction.INBOUND,
            contact=contact,
            text="Ainda está aí?",
        )
        db_session.commit()
        seen = read_until(lines, "Ainda está aí?", 8)

    assert "event: message" in seen
    assert f"id: {said.id}" in seen
    assert not any("event: queue" in line for line in seen)


def test_disputes_and_claims_are_resolved_from_the_panel(console, db_session, now):
    contact = conversation(db_session, now)
    debt = contact.debtor.debts[0]
    dispute = Dispute(
        debt_id=debt.id,
        reason=DisputeReason.ALREADY_PAID,
        description="Paguei em outubro",
        status=DisputeStatus.OPEN,
    )
    claim = PaymentClaim(
        debt_id=debt.id,
        paid_on=now.date() - timedelta(days=3),
        amount_minor=None,
        receipt_reference="PIX-123",
        status=ClaimStatus.OPEN,
    )
    db_session.add_all([dispute, claim])
    debt.status_before_dispute, debt.status = debt.status, DebtStatus.DISPUTED
    db_session.commit()
    csrf = sign_in(console, db_session, staff_member(db_session), now)
    base = f"/console/conversations/{contact.id}"

    page = console.get(base)
    assert "Paguei em outubro" in page.text and "PIX-123" in page.text
    assert "Resolve dispute" in page.text and "Confirm payment" in page.text
    missing = console.post(f"{base}/claims/{claim.id}/confirm", data={"csrf_token": csrf})
    confirmed = console.post(
        f"{base}/claims/{claim.id}/confirm", data={"csrf_token": csrf, "amount": "300,00"}
    )
    rejected = console.post(
        f"{base}/disputes/{dispute.id}/resolve",
        data={"csrf_token": csrf, "outcome": "rejected", "note": "statement shows no payment"},
    )

    assert missing.status_code == 422 and "enter the amount found" in missing.text
    assert "Payment confirmed and applied." in confirmed.text
    assert "Dispute rejected." in rejected.text
    db_session.expire_all()
    assert db_session.get(PaymentClaim, claim.id).status is ClaimStatus.CONFIRMED
    assert db_session.get(Dispute, dispute.id).status is DisputeStatus.REJECTED
    assert db_session.get(Debt, debt.id).status is DebtStatus.OVERDUE
    # The debtor is told on their web chat.
    told = db_session.scalars(
        select(Interaction).where(
            Interaction.contact_id == contact.id,
            Interaction.event == SENT,
            Interaction.actor == Actor.AGENT,
        )
    ).one()
    assert told.debt_id == debt.id
    assert f'id="entry-{told.id}"' in rejected.text
