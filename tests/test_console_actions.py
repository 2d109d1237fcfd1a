"""Staff actions from the console: each one's effect, its audit entry, and who may do it.

The plain functions of `backend/console/actions.py`, on SQLite and PostgreSQL; a reply reaches
the debtor through the recording Telegram and WhatsApp fakes and the web chat's own poll.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import partial

import anyio
import pytest
from sqlalchemy import select

from backend.config import Settings
from backend.console import actions
from backend.debts.models import DebtStatus
from backend.disputes.models import Dispute, DisputeReason, DisputeStatus
from backend.enums import Actor, Channel, Language
from backend.exceptions import Conflict, InvalidRequest, PolicyViolation
from backend.gateway.channels import webchat_sessions
from backend.gateway.channels.telegram import TelegramAdapter
from backend.gateway.channels.whatsapp import WhatsAppAdapter
from backend.gateway.models import OutboundChannel
from backend.handoffs import service as handoffs
from backend.handoffs.models import HandoffStatus
from backend.interactions.models import Interaction
from backend.interactions.service import read_text
from backend.ledger import service as ledger
from backend.payments.models import ClaimStatus, Payment, PaymentClaim
from backend.plans.models import PaymentPlan, PlanStatus
from backend.plans.schemas import PlanAsk
from backend.promises.models import PromiseStatus
from backend.staff.models import StaffMember, StaffRole
from tests import factories
from tests.fake_channels import (
    BOT_TOKEN,
    PHONE_NUMBER_ID,
    TEMPLATES,
    RecordingBotApi,
    RecordingGraph,
    serving,
)


def staff_member(db_session, role=StaffRole.AGENT, name="Bruna Lima") -> StaffMember:
    member = StaffMember(
        email=f"{role.value}-{name.split()[0].lower()}@aurora.example",
        display_name=name,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        role=role,
        active=True,
    )
    db_session.add(member)
    db_session.flush()
    return member


@pytest.fixture
def now(clock):
    return clock.fixed


@pytest.fixture
def world(db_session, now):
    """A debtor with a debt, chatting on the web chat, escalated and taken by an agent."""
    debtor, debt = factories.debtor_with_debt(db_session)
    contact = factories.contact(
        db_session,
        debtor,
        external_id=webchat_sessions.issue(
            secret=Settings(environment="test").contact_signing_secret
        ),
        language=Language.PT_BR,
    )
    agent = staff_member(db_session)
    supervisor = staff_member(db_session, StaffRole.SUPERVISOR, "Carla Dias")
    handoff = handoffs.escalate(db_session, contact=contact, reason="request_human", now=now)
    handoffs.assign(db_session, handoff=handoff, staff=agent, now=now)
    db_session.commit()
    return type(
        "World",
        (),
        dict(debtor=debtor, debt=debt, contact=contact, agent=agent, supervisor=supervisor),
    )


def audit(db_session, event: str) -> list[Interaction]:
    query = select(Interaction).where(Interaction.event == event).order_by(Interaction.id)
    return list(db_session.scalars(query))


def run(function, **kwargs):
    return anyio.run(partial(function, **kwargs))


# --- plans ----------------------------------------------------------------------------------


def test_an_agent_agrees_a_plan_within_the_policy(db_session, world, now):
    plan = actions.create_plan(
        db_session=db_session,
        staff=world.agent,
        contact=world.contact,
        debt=world.debt,
        ask=PlanAsk(installments=6),
        now=now,
    )

    assert plan.status is PlanStatus.ACTIVE
    assert plan.installment_count == 6
    assert world.debt.status is DebtStatus.IN_PLAN
    [entry] = audit(db_session, "staff.plan.created")
    assert entry.actor is Actor.AGENT
    assert entry.actor_ref == str(world.agent.id)
    assert entry.data["plan_id"] == plan.id
    assert entry.data["exception"] is False


def test_a_plan_outside_the_policy_is_refused_with_offers_and_an_agent_cannot_override(
    db_session, world, now
):
    ask = PlanAsk(installments=24)
    with pytest.raises(PolicyViolation) as refused:
        actions.create_plan(
            db_session=db_session,
            staff=world.agent,
            contact=world.contact,
            debt=world.debt,
            ask=ask,
            now=now,
        )
    assert refused.value.details["counter_offers"]

    with pytest.raises(actions.Forbidden):
        actions.create_plan(
            db_session=db_session,
            staff=world.agent,
            contact=world.contact,
            debt=world.debt,
            ask=ask,
            exception_reason="the debtor lost their job last month",
            now=now,
        )
    assert db_session.scalars(select(PaymentPlan)).all() == []


def test_a_supervisor_approves_an_exception_with_a_written_reason(db_session, world, now):
    ask = PlanAsk(installments=24)
    with pytest.raises(InvalidRequest):
        actions.create_plan(
            db_session=db_session,
            staff=world.supervisor,
            contact=world.contact,
            debt=world.debt,
            ask=ask,
            exception_reason="ok",
            now=now,
        )

    plan = actions.create_plan(
        db_session=db_session,
        staff=world.supervisor,
        contact=world.contact,
        debt=world.debt,
        ask=ask,
        exception_reason="hardship: hospital stay, income halved until March",
        now=now,
    )

    assert plan.installment_count == 24
    assert world.debt.status is DebtStatus.IN_PLAN
    assert world.debt.outstanding_minor == plan.total_minor
    assert ledger.ledger_balance(db_session=db_session, debt_id=world.debt.id) == plan.total_minor
    [entry] = audit(db_session, "staff.plan.exception_approved")
    assert entry.actor_ref == str(world.supervisor.id)
    assert entry.data["reason"] == "hardship: hospital stay, income halved until March"
    assert entry.data["policy_reason"] == "too_many_installments"


def test_a_promise_recorded_by_staff_follows_the_policy(db_session, world, now):
    promised = now.date() + timedelta(days=5)
    promise = actions.record_promise(
        db_session=db_session,
        staff=world.agent,
        contact=world.contact,
        debt=world.debt,
        amount=Decimal("500.00"),
        promised_date=promised,
        now=now,
    )

    assert promise.status is PromiseStatus.ACTIVE
    assert promise.amount_minor == 50000
    [entry] = audit(db_session, "staff.promise.recorded")
    assert entry.data["promise_id"] == promise.id


def test_staff_act_only_on_the_debts_of_the_conversations_debtor(db_session, world, now):
    _, other_debt = factories.debtor_with_debt(db_session)
    with pytest.raises(Conflict):
        actions.record_promise(
            db_session=db_session,
            staff=world.agent,
            contact=world.contact,
            debt=other_debt,
            amount=Decimal("10"),
            promised_date=now.date(),
            now=now,
        )


# --- disputes -------------------------------------------------------------------------------


def open_dispute(db_session, debt) -> Dispute:
    dispute = Dispute(
        debt_id=debt.id,
        reason=DisputeReason.WRONG_AMOUNT,
        status=DisputeStatus.OPEN,
        channel=Channel.WEBCHAT,
    )
    db_session.add(dispute)
    debt.status_before_dispute = debt.status
    debt.status = DebtStatus.DISPUTED
    db_session.commit()
    return dispute


def resolve(db_session, world, dispute, outcome, now, **extra):
    return run(
        actions.resolve_dispute,
        db_session=db_session,
        staff=world.agent,
        contact=world.contact,
        dispute=dispute,
        outcome=outcome,
        note="checked the contract and the statements",
        adapters={},
        now=now,
        **extra,
    )


def test_a_dispute_upheld_cancels_the_debt(db_session, world, now):
    dispute = open_dispute(db_session, world.debt)

    resolve(db_session, world, dispute, "upheld", now)

    assert dispute.status is DisputeStatus.UPHELD
    assert world.debt.status is DebtStatus.WRITTEN_OFF
    [entry] = audit(db_session, "staff.dispute.upheld")
    assert entry.actor_ref == str(world.agent.id)


def test_a_dispute_upheld_with_a_corrected_amount_adjusts_the_ledger(db_session, world, now):
    dispute = open_dispute(db_session, world.debt)

    resolve(db_session, world, dispute, "upheld", now, corrected_amount=Decimal("1500.00"))

    assert dispute.status is DisputeStatus.UPHELD
    assert world.debt.outstanding_minor == 150000
    assert world.debt.status is DebtStatus.OVERDUE  # collection resumes on the right amount
    statement = ledger.balance_explained(db_session=db_session, debt=world.debt)
    assert statement.balance == 150000
    assert statement.entries[-1].kind.value == "adjustment"
    [entry] = audit(db_session, "staff.dispute.upheld")
    assert entry.data["corrected_minor"] == 150000


def test_a_dispute_rejected_resumes_collection_and_tells_the_debtor(db_session, world, now):
    dispute = open_dispute(db_session, world.debt)

    resolve(db_session, world, dispute, "rejected", now)

    assert dispute.status is DisputeStatus.REJECTED
    assert world.debt.status is DebtStatus.OVERDUE
    [told] = [
        i
        for i in audit(db_session, "message.sent")
        if i.actor is Actor.AGENT and i.contact_id == world.contact.id
    ]
    assert world.debt.reference in read_text(db_session=db_session, interaction=told)
    assert audit(db_session, "staff.dispute.rejected")


# --- payment claims -------------------------------------------------------------------------


def open_claim(db_session, debt, amount_minor=100000) -> PaymentClaim:
    claim = PaymentClaim(
        debt_id=debt.id,
        paid_on=date.today() - timedelta(days=2),
        amount_minor=amount_minor,
        status=ClaimStatus.OPEN,
        channel=Channel.WEBCHAT,
    )
    db_session.add(claim)
    db_session.commit()
    return claim


def test_a_confirmed_claim_is_applied_as_a_payment(db_session, world, now):
    claim = open_claim(db_session, world.debt)
    before = world.debt.outstanding_minor

    actions.confirm_payment_claim(
        db_session=db_session, staff=world.agent, contact=world.contact, claim=claim, now=now
    )

    assert claim.status is ClaimStatus.CONFIRMED
    [payment] = db_session.scalars(select(Payment)).all()
    assert payment.amount_minor == 100000
    db_session.refresh(world.debt)
    # Late interest is brought up to today before the payment is applied.
    assert world.debt.outstanding_minor <= before - 100000 + 5000
    assert (
        ledger.ledger_balance(db_session=db_session, debt_id=world.debt.id)
        == world.debt.outstanding_minor
    )
    [entry] = audit(db_session, "staff.payment_claim.confirmed")
    assert entry.data["payment_id"] == payment.id


def test_a_rejected_claim_needs_a_note_and_is_audited(db_session, world, now):
    claim = open_claim(db_session, world.debt)
    reject = partial(
        actions.reject_payment_claim,
        db_session=db_session,
        staff=world.agent,
        contact=world.contact,
        claim=claim,
        now=now,
    )
    with pytest.raises(InvalidRequest):
        reject(note="  ")

    reject(note="no such transfer in the bank statement")

    assert claim.status is ClaimStatus.REJECTED
    [entry] = audit(db_session, "staff.payment_claim.rejected")
    assert entry.data["note"] == "no such transfer in the bank statement"
    with pytest.raises(Conflict):
        reject(note="again")


# --- verification lock ----------------------------------------------------------------------


def test_only_a_supervisor_lifts_a_verification_lock_with_a_note(db_session, world, now):
    world.debtor.verification_locked_until = now + timedelta(hours=12)
    world.debtor.failed_verifications = 5
    world.contact.locked_until = now + timedelta(minutes=30)
    db_session.commit()
    lift = partial(
        actions.lift_verification_lock,
        db_session=db_session,
        contact=world.contact,
        debtor=world.debtor,
        now=now,
    )
    with pytest.raises(actions.Forbidden):
        lift(staff=world.agent, note="called the debtor back on the phone on file")
    with pytest.raises(InvalidRequest):
        lift(staff=world.supervisor, note="ok")

    status = lift(staff=world.supervisor, note="called the debtor back on the phone on file")

    assert not status.locked
    assert world.debtor.failed_verifications == 0
    assert world.contact.locked_until is None
    [entry] = audit(db_session, "staff.verification.lock_lifted")
    assert entry.actor_ref == str(world.supervisor.id)
    assert audit(db_session, "identity.lock_lifted")


# --- ownership ------------------------------------------------------------------------------


def test_take_over_hand_back_and_close_are_audited(db_session, world, now):
    actions.hand_back(db_session=db_session, staff=world.agent, contact=world.contact, now=now)
    assert handoffs.owner_of(db_session, world.contact) is None
    with pytest.raises(Conflict):
        actions.close(db_session=db_session, staff=world.agent, contact=world.contact, now=now)

    handoff = actions.take_over(
        db_session=db_session, staff=world.supervisor, contact=world.contact, now=now
    )
    assert handoff.status is HandoffStatus.ASSIGNED
    assert handoff.taken_by_staff
    actions.close(db_session=db_session, staff=world.supervisor, contact=world.contact, now=now)

    assert handoffs.owner_of(db_session, world.contact) is None
    assert [e.actor_ref for e in audit(db_session, "staff.hand_back")] == [str(world.agent.id)]
    assert [e.actor_ref for e in audit(db_session, "staff.take_over")] == [str(world.supervisor.id)]
    assert len(audit(db_session, "staff.close")) == 1


# --- replies --------------------------------------------------------------------------------


def test_a_reply_reaches_the_web_chat_page(db_session, world, now, anonymous_client):
    message = run(
        actions.reply,
        db_session=db_session,
        staff=world.agent,
        contact=world.contact,
        text="Olá Ana, sou a Bruna. Posso ajudar com o parcelamento.",
        adapters={},
        now=now,
    )

    polled = anonymous_client.get(
        "/chat/api/messages", headers={"X-Chat-Session": world.contact.external_id}
    )
    assert polled.status_code == 200
    texts = [m["text"] for m in polled.json()["messages"]]
    assert texts == ["Olá Ana, sou a Bruna. Posso ajudar com o parcelamento."]
    assert message.actor is Actor.AGENT
    assert message.actor_ref == str(world.agent.id)
    handoff = handoffs.owner_of(db_session, world.contact)
    assert handoff.first_response_at is not None
    [entry] = audit(db_session, "staff.reply")
    assert entry.data["message_id"] == message.id


def test_a_reply_needs_the_conversation_in_staff_hands(db_session, world, now):
    actions.hand_back(db_session=db_session, staff=world.agent, contact=world.contact, now=now)
    with pytest.raises(Conflict):
        run(
            actions.reply,
            db_session=db_session,
            staff=world.agent,
            contact=world.contact,
            text="hello",
            adapters={},
            now=now,
        )


def test_a_reply_reaches_the_debtor_on_telegram(db_session, settings, now):
    debtor, _ = factories.debtor_with_debt(db_session)
    contact = factories.contact(db_session, debtor, channel=Channel.TELEGRAM, external_id="4242")
    agent = staff_member(db_session)
    handoffs.escalate(db_session, contact=contact, reason="request_human", now=now)
    db_session.commit()
    bot_api = RecordingBotApi()
    bot_settings = settings.model_copy(
        update={"telegram_bot_token": BOT_TOKEN, "telegram_api_base_url": bot_api.base_url}
    )

    async def send():
        adapter = TelegramAdapter(bot_settings)
        try:
            return await actions.reply(
                db_session=db_session,
                staff=agent,
                contact=contact,
                text="Hi Ana, this is Bruna from the team.",
                adapters={OutboundChannel.TELEGRAM: adapter},
                now=now,
            )
        finally:
            await adapter.aclose()

    with serving(bot_api):
        message = anyio.run(send)

    assert bot_api.received == [("4242", "Hi Ana, this is Bruna from the team.")]
    assert message.data["provider_message_id"] == "1"
    # Answering a queued conversation takes it.
    assert handoffs.owner_of(db_session, contact).assigned_staff_id == agent.id


def whatsapp_world(db_session, settings, now, *, last_wrote):
    debtor, _ = factories.debtor_with_debt(db_session)
    contact = factories.contact(
        db_session,
        debtor,
        channel=Channel.WHATSAPP,
        external_id="5511987650000",
        last_inbound_at=now - last_wrote,
    )
    agent = staff_member(db_session)
    handoffs.take_over(db_session, contact=contact, staff=agent, now=now)
    db_session.commit()
    return contact, agent


def whatsapp_settings(settings, graph, templates):
    return settings.model_copy(
        update={
            "whatsapp_phone_number_id": PHONE_NUMBER_ID,
            "whatsapp_access_token": "test-access-token",
            "whatsapp_app_secret": "test-app-secret",
            "whatsapp_verify_token": "test-verify-token",
            "whatsapp_graph_base_url": graph.url,
            "whatsapp_templates": templates,
            "whatsapp_template_languages": {lang: lang for lang in templates},
        }
    )


def send_whatsapp(db_session, settings, contact, agent, now, text):
    async def send():
        adapter = WhatsAppAdapter(settings)
        try:
            return await actions.reply(
                db_session=db_session,
                staff=agent,
                contact=contact,
                text=text,
                adapters={OutboundChannel.WHATSAPP: adapter},
                now=now,
            )
        finally:
            await adapter.aclose()

    return anyio.run(send)


def test_whatsapp_within_the_window_gets_the_text(db_session, settings, now):
    contact, agent = whatsapp_world(db_session, settings, now, last_wrote=timedelta(hours=2))
    graph = RecordingGraph()
    with serving(graph):
        send_whatsapp(
            db_session, whatsapp_settings(settings, graph, TEMPLATES), contact, agent, now, "Oi!"
        )
    [(to, kind, content)] = graph.received
    assert (to, kind, content["body"]) == ("5511987650000", "text", "Oi!")


def test_whatsapp_outside_the_window_gets_the_template_or_a_clear_refusal(
    db_session, settings, now
):
    contact, agent = whatsapp_world(db_session, settings, now, last_wrote=timedelta(days=3))
    graph = RecordingGraph()
    with serving(graph):
        message = send_whatsapp(
            db_session, whatsapp_settings(settings, graph, TEMPLATES), contact, agent, now, "Oi!"
        )
        with pytest.raises(actions.NotDelivered) as refused:
            send_whatsapp(
                db_session, whatsapp_settings(settings, graph, {}), contact, agent, now, "Oi"
            )

    [(to, kind, template)] = graph.received
    assert (to, kind) == ("5511987650000", "template")
    assert template["name"] == TEMPLATES["pt_BR"]
    assert template["components"][0]["parameters"] == [{"type": "text", "text": "Oi!"}]
    assert message.data["template"] is True
    assert refused.value.reason_code == "outside_service_window"
