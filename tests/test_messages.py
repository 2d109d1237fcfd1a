"""What each queued message says: creditor, amount, date, payment link and how to stop."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

import locales
from backend.campaigns import cadence
from backend.campaigns.messages import CADENCE_TEXTS, render
from backend.debts.models import DebtStatus
from backend.gateway import outbox
from backend.gateway.models import MessageKind, OutboundChannel, OutboxMessage
from backend.negotiation.engine import PlanKind
from backend.payments.models import Payment
from backend.plans.models import Installment, PaymentPlan, PlanStatus
from backend.promises.models import PromiseStatus, PromiseToPay
from tests import factories

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=timezone.utc)
DUE = date(2026, 2, 20)
# Words a collection message must never use: threats, shame, pressure.
THREATS = re.compile(
    r"legal action|lawyer|court|lawsuit|sue\b|police|arrest|seiz|garnish|credit bureau|"
    r"blacklist|negativ|penalt|last chance|immediately|consequences|shame|criminal",
    re.IGNORECASE,
)
CHAT = (OutboundChannel.WHATSAPP, OutboundChannel.TELEGRAM, OutboundChannel.WEBCHAT)


@pytest.fixture
def world(db_session):
    """An English-speaking debtor with a debt, a promise, a plan and a payment on it."""
    creditor = factories.creditor(db_session, name="Aurora Crédito")
    cadence.seed_defaults(db_session, creditor)
    policy = factories.policy(db_session, creditor, currency="USD")
    person = factories.debtor(
        db_session,
        creditor,
        full_name="John Quincy Miller",
        document_number="123456789",
        preferred_language="en",
        timezone="America/New_York",
        country="US",
    )
    debt = factories.debt(
        db_session,
        person,
        reference="D-US-0001",
        currency="USD",
        outstanding_minor=98000,
        due_date=DUE,
        status=DebtStatus.OVERDUE,
    )
    promise = PromiseToPay(
        debt_id=debt.id,
        amount_minor=30000,
        paid_before_minor=0,
        promised_date=date(2026, 3, 11),
        status=PromiseStatus.ACTIVE,
    )
    plan = PaymentPlan(
        debt_id=debt.id,
        policy_id=policy.id,
        status=PlanStatus.BROKEN,
        kind=PlanKind.INSTALLMENTS,
        currency="USD",
        balance_minor=98000,
        discount_minor=0,
        interest_minor=0,
        interest_monthly_pct=Decimal("0.9"),
        down_payment_minor=0,
        installment_count=2,
        total_minor=98000,
        idempotency_key="plan-messages",
        request_fingerprint="f" * 64,
        installments=[
            Installment(sequence=1, due_date=date(2026, 1, 5), amount_minor=49000, paid_minor=0),
            Installment(sequence=2, due_date=date(2026, 2, 5), amount_minor=49000, paid_minor=9000),
        ],
    )
    payment = Payment(
        external_id="pay-1",
        debt_id=debt.id,
        amount_minor=12345,
        currency="USD",
        paid_at=NOW - timedelta(hours=1),
        method="pix",
    )
    db_session.add_all([promise, plan, payment])
    db_session.commit()
    return dict(debtor=person, debt=debt, promise=promise, plan=plan, payment=payment)


def _queued(db_session, world, kind: MessageKind, *, level=None, params=None) -> OutboxMessage:
    key = f"test:{kind.value}:{level}:{sorted((params or {}).items())}"
    outbox.enqueue(
        db_session,
        dedupe_key=key,
        kind=kind,
        debtor_id=world["debtor"].id,
        debt_id=world["debt"].id,
        scheduled_for=NOW.date(),
        not_before=NOW,
        level=level,
        params=params,
    )
    db_session.commit()
    return db_session.query(OutboxMessage).filter_by(dedupe_key=key).one()


def _cases(world):
    """(kind, level, params, amount shown, date shown) for every kind of message."""
    installment = world["plan"].installments[1]
    return [
        *[
            (MessageKind.REMINDER, level, None, "$980.00", "February 20, 2026")
            for level in range(1, 7)  # medium: before_due … final_notice
        ],
        (
            MessageKind.PROMISE_DUE,
            None,
            {"promise_id": world["promise"].id},
            "$300.00",
            "March 11, 2026",
        ),
        (
            MessageKind.PROMISE_BROKEN,
            None,
            {"promise_id": world["promise"].id},
            "$300.00",
            "March 11, 2026",
        ),
        (
            MessageKind.INSTALLMENT_DUE,
            None,
            {"installment_id": installment.id},
            "$400.00",
            "February 5, 2026",
        ),
        (
            MessageKind.INSTALLMENT_LATE,
            None,
            {"installment_id": installment.id},
            "$400.00",
            "February 5, 2026",
        ),
        (
            MessageKind.PLAN_BROKEN,
            None,
            {"plan_id": world["plan"].id},
            "$980.00",
            "January 5, 2026",
        ),
        (
            MessageKind.PAYMENT_THANKS,
            None,
            {"payment_id": world["payment"].id},
            "$123.45",
            "March 10, 2026",
        ),
    ]


@pytest.mark.parametrize("channel", [OutboundChannel.WHATSAPP, OutboundChannel.EMAIL])
def test_every_kind_names_creditor_amount_date_link_and_how_to_stop(
    db_session, settings, world, channel
):
    for kind, level, params, amount, day in _cases(world):
        message = _queued(db_session, world, kind, level=level, params=params)
        rendered = render(
            db_session, message, language="en", channel=channel, settings=settings, now=NOW
        )
        text = rendered.text
        assert "Aurora Crédito" in text, kind
        assert amount in text and day in text, (kind, text)
        assert rendered.debt_reference == "D-US-0001"
        if kind is not MessageKind.PAYMENT_THANKS:
            assert "https://pay.example/d/D-US-0001" in text
        assert text.startswith("Hello John,")
        assert "Miller" not in text and "123456789" not in text and "6789" not in text
        assert not THREATS.search(text), (kind, text)
        assert "Aurora Crédito" in rendered.subject
        if channel in CHAT:
            assert "To stop these messages, reply STOP." in text
            payloads = [button.payload for button in rendered.buttons]
            assert "/request_human" in payloads
            if kind is not MessageKind.PAYMENT_THANKS:
                assert "/request_payment_plan" in payloads
        else:
            assert f"{settings.public_base_url.rstrip('/')}/unsubscribe/" in text
            assert rendered.buttons == []
        assert rendered.template_parameters[:3] == ["John", amount, day]


def test_each_cadence_level_says_what_its_step_names(db_session, settings, world):
    texts = {}
    for level in range(1, 7):
        message = _queued(db_session, world, MessageKind.REMINDER, level=level)
        texts[level] = render(
            db_session,
            message,
            language="en",
            channel=OutboundChannel.TELEGRAM,
            settings=settings,
            now=NOW,
        ).text
    assert len(set(texts.values())) == 6
    assert "friendly reminder" in texts[1]
    # The last level is clear, not threatening: a person will look at the account.
    assert "last reminder before a member of our team reviews your account" in texts[6]


def test_the_thanks_for_a_payment_says_what_is_left(db_session, settings, world):
    message = _queued(
        db_session, world, MessageKind.PAYMENT_THANKS, params={"payment_id": world["payment"].id}
    )
    text = render(
        db_session,
        message,
        language="en",
        channel=OutboundChannel.WEBCHAT,
        settings=settings,
        now=NOW,
    ).text
    assert "Thank you! Aurora Crédito received your payment of $123.45" in text
    assert "Your remaining balance is $980.00." in text

    world["debt"].outstanding_minor = 0
    db_session.commit()
    text = render(
        db_session,
        message,
        language="en",
        channel=OutboundChannel.WEBCHAT,
        settings=settings,
        now=NOW,
    ).text
    assert "Your debt is now fully paid." in text
    assert "You can pay here" not in text


def test_a_brazilian_debtor_reads_reais_their_date_and_their_stop_word(db_session, settings, world):
    debtor = world["debtor"]
    debtor.preferred_language = "pt_BR"
    world["debt"].currency = "BRL"
    db_session.commit()
    message = _queued(db_session, world, MessageKind.REMINDER, level=3)
    rendered = render(
        db_session,
        message,
        language="pt_BR",
        channel=OutboundChannel.WHATSAPP,
        settings=settings,
        now=NOW,
    )
    assert locales.format_money(Decimal("980.00"), "BRL", "pt_BR") in rendered.text
    assert locales.format_day(DUE, "pt_BR") in rendered.text
    assert "PARAR" in rendered.text  # the first Portuguese stop word (STOP works too)
    assert "{" not in rendered.text  # every placeholder filled


def test_no_catalog_text_threatens(db_session):
    for text in CADENCE_TEXTS.values():
        assert not THREATS.search(text)
