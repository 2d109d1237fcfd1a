"""KPIs: every figure on a small known portfolio, checked against arithmetic done by hand.

The portfolio (one creditor, period 2026-11-02 to 2026-11-15 inclusive, so `end` = 11-16):

  debtor  segment  contact            debts (all placed 2026-10-01 unless said)
  Ana     low      cA telegram        D1 BRL 1000.00 due 09-01; D5 BRL 400.00 placed 11-09
  Bruno   low      cB webchat         D2 BRL  500.00 due 09-01
  Carla   high     cC webchat         D3 BRL 2000.00 due 09-01
  Davi    high     (none)             D4 EUR  800.00 due 12-01 (not yet due)
  —       unknown  cX whatsapp (nobody verified on it)

Payments in the period: D1 1000.00 on 11-05 (paid off), D2 200.00 on 11-10, D4 EUR 300.00
on 11-12. D3 agreed a plan on 11-08 (installments due 11-20 and 12-20). Carla's and Bruno's
conversations were handed to staff; Ana's never were.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from backend.enums import Actor, Channel
from backend.feedback.models import CsatScore
from backend.gateway.models import MessageKind, OutboundChannel, OutboxMessage, OutboxStatus
from backend.handoffs.models import Handoff, HandoffStatus
from backend.interactions.models import Direction, Interaction
from backend.kpis import definitions as d
from backend.kpis import queries
from backend.kpis.report import Period, build_report
from backend.ledger import service as ledger
from backend.negotiation.engine import PlanKind
from backend.payments.models import Payment
from backend.plans.models import Installment, PaymentPlan, PlanStatus
from backend.promises.models import PromiseStatus
from backend.staff.models import StaffMember, StaffRole
from tests import factories

START = date(2026, 11, 2)
END = date(2026, 11, 16)  # exclusive: the period is 14 days
PERIOD = Period(START, END)
PLACED = datetime(2026, 10, 1, 15, 0, tzinfo=timezone.utc)


def at(day: int, hour: int = 15, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


def place(db_session, person, amount_minor, *, currency="BRL", due=date(2026, 9, 1), when=PLACED):
    debt = factories.debt(
        db_session,
        person,
        currency=currency,
        principal_minor=amount_minor,
        fees_minor=0,
        interest_minor=0,
        outstanding_minor=amount_minor,
        due_date=due,
        created_at=when,
    )
    ledger.open_debt(db_session=db_session, debt=debt, now=when)
    return debt


def pay(db_session, debt, amount_minor, when):
    payment = Payment(
        external_id=f"pay-{debt.id}-{when.isoformat()}",
        debt_id=debt.id,
        amount_minor=amount_minor,
        overpaid_minor=0,
        currency=debt.currency,
        paid_at=when,
        method="pix",
    )
    db_session.add(payment)
    db_session.flush()
    ledger.post_payment(
        db_session=db_session, debt=debt, payment=payment, applied_minor=amount_minor, now=when
    )


def log(db_session, contact, event, when):
    db_session.add(
        Interaction(
            occurred_at=when,
            debtor_id=contact.debtor_id,
            contact_id=contact.id,
            channel=contact.channel,
            direction=Direction.INBOUND if event == "message.received" else Direction.INTERNAL,
            actor=Actor.DEBTOR,
            event=event,
            data={},
        )
    )


def handoff(db_session, contact, *, queued, assigned=None, answered=None, staff=None, **extra):
    values = dict(
        contact_id=contact.id,
        debtor_id=contact.debtor_id,
        reason="request_human",
        status=HandoffStatus.CLOSED,
        queued_at=queued,
        assigned_at=assigned,
        assigned_staff_id=staff.id if assigned else None,
        first_response_at=answered,
        ended_at=answered,
    )
    values.update(extra)
    db_session.add(Handoff(**values))
    db_session.flush()


def outbox(db_session, person, status, when, *, channel=None, reason=None):
    sent = status is OutboxStatus.SENT
    db_session.add(
        OutboxMessage(
            dedupe_key=f"kpi-{person.id}-{when.isoformat()}-{status.value}",
            kind=MessageKind.REMINDER,
            debtor_id=person.id,
            level=1,
            scheduled_for=when.date(),
            not_before=when,
            status=status,
            channel=channel,
            suppression_reason=reason,
            sent_at=when if sent else None,
            created_at=when - timedelta(hours=1),
            updated_at=when,
        )
    )


@pytest.fixture
def portfolio(db_session):
    """The portfolio of the module's docstring; returns its creditor."""
    owner = factories.creditor(db_session)
    factories.policy(db_session, owner, risk_segment="high")
    ana = factories.debtor(db_session, owner, risk_segment="low")
    bruno = factories.debtor(db_session, owner, risk_segment="low")
    carla = factories.debtor(db_session, owner, risk_segment="high")
    davi = factories.debtor(db_session, owner, risk_segment="high")
    d1 = place(db_session, ana, 100000)
    d2 = place(db_session, bruno, 50000)
    d3 = place(db_session, carla, 200000)
    d4 = place(db_session, davi, 80000, currency="EUR", due=date(2026, 12, 1))
    place(db_session, ana, 40000, due=date(2026, 10, 1), when=at(9))  # D5, placed mid-period

    pay(db_session, d1, 100000, at(5))
    pay(db_session, d2, 20000, at(10))
    pay(db_session, d4, 30000, at(12))
    pay(db_session, d2, 10000, at(30, month=10))  # before the period: not collected in it

    # D3's plan: its total is the balance, so the ledger needs no discount or interest.
    policy_id = factories.policy(db_session, owner, risk_segment="low").id
    db_session.add(
        PaymentPlan(
            debt_id=d3.id,
            policy_id=policy_id,
            status=PlanStatus.ACTIVE,
            kind=PlanKind.INSTALLMENTS,
            currency="BRL",
            balance_minor=200000,
            discount_minor=0,
            interest_minor=0,
            interest_monthly_pct=0,
            down_payment_minor=0,
            installment_count=2,
            total_minor=200000,
            idempotency_key="kpi-plan-d3",
            request_fingerprint="f" * 64,
            created_at=at(8, 12),
            installments=[
                Installment(sequence=1, due_date=date(2026, 11, 20), amount_minor=100000),
                Installment(sequence=2, due_date=date(2026, 12, 20), amount_minor=100000),
            ],
        )
    )

    c_a = factories.contact(db_session, ana, channel=Channel.TELEGRAM, external_id="tg-ana")
    c_b = factories.contact(db_session, bruno, channel=Channel.WEBCHAT)
    c_c = factories.contact(db_session, carla, channel=Channel.WEBCHAT)
    c_x = factories.contact(db_session, None, channel=Channel.WHATSAPP, external_id="5511900")

    # Conversations (contact, day): six in the period.
    log(db_session, c_a, "message.received", at(3, 10))
    log(db_session, c_a, "message.received", at(3, 11))  # the same conversation
    log(db_session, c_a, "identity.verified", at(3, 10, 5))
    log(db_session, c_a, "message.received", at(5, 9))
    log(db_session, c_b, "message.received", at(4, 16))
    log(db_session, c_b, "webchat.linked", at(4, 16, 1))
    log(db_session, c_c, "message.received", at(7, 9, 50))
    log(db_session, c_c, "identity.verified", at(7, 9, 55))
    log(db_session, c_x, "message.received", at(10, 13))
    log(db_session, c_b, "message.received", at(12, 8))
    log(db_session, c_a, "message.received", at(1, 12))  # before the period
    log(db_session, c_a, "message.received", at(16, 12))  # after it
    log(db_session, c_a, "identity.verified", at(16, 12, 1))

    agent = StaffMember(
        email="kpi.agent@example.com",
        display_name="Agent",
        password_hash="x",
        role=StaffRole.AGENT,
        active=True,
    )
    db_session.add(agent)
    db_session.flush()
    # First responses: 5, 30 and 13 minutes; one handoff still waits.
    handoff(
        db_session,
        c_c,
        queued=at(7, 10),
        assigned=at(7, 10, 2),
        answered=at(7, 10, 5),
        staff=agent,
        debt_id=d3.id,
        reason="hardship",
    )
    handoff(
        db_session,
        c_b,
        queued=at(12, 9),
        assigned=at(12, 9, 10),
        answered=at(12, 9, 30),
        staff=agent,
    )
    handoff(
        db_session,
        c_x,
        queued=at(10, 14),
        assigned=at(10, 14, 1),
        answered=at(10, 14, 13),
        staff=agent,
    )
    handoff(db_session, c_x, queued=at(14, 8), status=HandoffStatus.QUEUED, ended_at=None)

    # Promises: resolved in the period P1 kept (telegram), P2 broken, P3 broken (webchat).
    for debt, status, resolved, channel in (
        (d1, PromiseStatus.KEPT, at(5), Channel.TELEGRAM),
        (d2, PromiseStatus.BROKEN, at(8), Channel.WEBCHAT),
        (d3, PromiseStatus.BROKEN, at(6), Channel.WEBCHAT),
        (d4, PromiseStatus.CANCELLED, at(10), Channel.WEBCHAT),  # not resolved: left out
        (d2, PromiseStatus.KEPT, at(30, month=10), Channel.WEBCHAT),  # before the period
    ):
        factories.promise(
            db_session,
            debt,
            resolved.date(),
            1000,
            status=status,
            resolved_at=resolved,
            channel=channel,
        )

    for contact, score, when in (
        (c_a, 5, at(3)),
        (c_a, 4, at(5)),
        (c_b, 2, at(12)),
        (c_c, 5, at(7)),
        (c_x, 1, at(10)),
        (c_a, 3, at(16)),  # after the period
    ):
        db_session.add(
            CsatScore(
                debtor_id=contact.debtor_id,
                contact_id=contact.id,
                channel=contact.channel,
                score=score,
                created_at=when,
            )
        )

    outbox(db_session, ana, OutboxStatus.SENT, at(3), channel=OutboundChannel.TELEGRAM)
    outbox(db_session, bruno, OutboxStatus.SENT, at(4), channel=OutboundChannel.WEBCHAT)
    outbox(db_session, carla, OutboxStatus.SENT, at(6), channel=OutboundChannel.WEBCHAT)
    outbox(db_session, ana, OutboxStatus.SUPPRESSED, at(5), reason="opted_out")
    outbox(
        db_session,
        bruno,
        OutboxStatus.SUPPRESSED,
        at(9),
        channel=OutboundChannel.WEBCHAT,
        reason="dispute_open",
    )
    outbox(db_session, carla, OutboxStatus.SUPPRESSED, at(10), reason="opted_out")
    outbox(db_session, davi, OutboxStatus.PENDING, at(11))  # not sent yet
    outbox(db_session, ana, OutboxStatus.SENT, at(30, month=10), channel=OutboundChannel.TELEGRAM)

    db_session.commit()
    return owner


@pytest.fixture
def report(db_session, portfolio):
    return build_report(queries.load(db_session=db_session, period=PERIOD), PERIOD)


def value(report, kpi, **where):
    figure = report.figure(kpi, **where)
    assert figure is not None, (kpi, where)
    return figure.value


def test_recovery_rate_per_currency(report):
    # BRL collected in the period: D1 100000 + D2 20000 = 120000 (D2's 10000 of 10-30 is
    # before it). Placed by the end: D1 100000 + D2 50000 + D3 200000 + D5 40000 = 390000.
    assert value(report, "recovery_rate", key="BRL") == pytest.approx(120000 / 390000)
    # EUR: D4's 30000 of 80000.
    assert value(report, "recovery_rate", key="EUR") == pytest.approx(30000 / 80000)
    figure = report.figure("recovery_rate", key="BRL")
    assert (figure.numerator, figure.denominator) == (120000, 390000)
    # Low segment, BRL: (100000 + 20000) / (100000 + 50000 + 40000).
    assert value(report, "recovery_rate", dimension="segment", group="low", key="BRL") == (
        pytest.approx(120000 / 190000)
    )
    # High segment, BRL: nothing collected on D3's 200000.
    assert value(report, "recovery_rate", dimension="segment", group="high", key="BRL") == 0
    # Day 11-05: 100000 collected ÷ 350000 placed by then (D5 came on 11-09).
    assert value(
        report, "recovery_rate", key="BRL", window=(date(2026, 11, 5), date(2026, 11, 6))
    ) == pytest.approx(100000 / 350000)
    # Day 11-10: 20000 ÷ 390000.
    assert value(
        report, "recovery_rate", key="BRL", window=(date(2026, 11, 10), date(2026, 11, 11))
    ) == pytest.approx(20000 / 390000)
    # Recovery has no channel: payments do not say where the debtor was talked into them.
    assert report.figure("recovery_rate", dimension="channel", group="webchat", key="BRL") is None


def test_one_creditors_figures(db_session, portfolio):
    # Another creditor's debt, placed and paid in full in the period.
    other = factories.creditor(db_session)
    stranger = factories.debtor(db_session, other, risk_segment="low")
    pay(db_session, place(db_session, stranger, 60000), 60000, at(6))
    db_session.commit()
    everyone = build_report(queries.load(db_session=db_session, period=PERIOD), PERIOD)
    # 120000 + 60000 collected of 390000 + 60000 placed.
    assert value(everyone, "recovery_rate", key="BRL") == pytest.approx(180000 / 450000)
    data = queries.load(db_session=db_session, period=PERIOD, creditor_id=portfolio.id)
    own = build_report(data, PERIOD)
    assert value(own, "recovery_rate", key="BRL") == pytest.approx(120000 / 390000)
    # The WhatsApp contact nobody verified belongs to no creditor: five conversations left.
    assert own.figure("handoff_rate").denominator == 5
    assert own.figure("csat_average").denominator == 4


def test_cure_and_self_cure(report):
    # Overdue on 11-02: D1, D2, D3 (D4 is not due until 12-01, D5 was placed on 11-09).
    # Cured by 11-16: D1 (paid off), D3 (plan agreed 11-08, nothing late); D2 owes 20000.
    assert value(report, "cure_rate") == pytest.approx(2 / 3)
    # D3's debtor was handed to staff on 11-07: only D1 cured alone.
    assert value(report, "self_cure_rate") == pytest.approx(1 / 3)
    # Low: D1 cured of D1, D2; high: D3 of D3, with a person.
    assert value(report, "cure_rate", dimension="segment", group="low") == 0.5
    assert value(report, "self_cure_rate", dimension="segment", group="low") == 0.5
    assert value(report, "cure_rate", dimension="segment", group="high") == 1
    assert value(report, "self_cure_rate", dimension="segment", group="high") == 0
    # Day 11-05 alone: D1, D2, D3 overdue that morning; D1 paid off by the evening.
    assert value(report, "cure_rate", window=(date(2026, 11, 5), date(2026, 11, 6))) == (
        pytest.approx(1 / 3)
    )


def test_dso_per_currency(report):
    # BRL open at the end: D2 20000 + D3 200000 + D5 40000 (D1 is paid) = 260000; collected
    # 120000 in 14 days: 260000 / 120000 × 14 = 30.333… days.
    assert value(report, "dso", key="BRL") == pytest.approx(260000 / 120000 * 14)
    # EUR: 50000 open, 30000 collected: 50000 / 30000 × 14 = 23.333… days.
    assert value(report, "dso", key="EUR") == pytest.approx(50000 / 30000 * 14)
    # High segment, BRL: 200000 open and nothing collected: n/a, not a division by zero.
    figure = report.figure("dso", dimension="segment", group="high", key="BRL")
    assert figure.value is None and figure.text() == "n/a"


def test_conversations_right_party_handoffs_and_containment(report):
    # Six conversations: cA 11-03 (verified), cA 11-05, cB 11-04 (linked), cC 11-07 (verified,
    # handed off), cX 11-10 (handed off), cB 11-12 (handed off).
    assert report.figure("right_party_contact_rate").denominator == 6
    assert value(report, "right_party_contact_rate") == pytest.approx(3 / 6)
    assert value(report, "handoff_rate") == pytest.approx(3 / 6)
    assert value(report, "bot_containment") == pytest.approx(3 / 6)
    # Telegram: cA's two, one verified, none handed off.
    assert value(report, "right_party_contact_rate", dimension="channel", group="telegram") == 0.5
    assert value(report, "handoff_rate", dimension="channel", group="telegram") == 0
    assert value(report, "bot_containment", dimension="channel", group="telegram") == 1
    # Web chat: cB 11-04 (verified), cC 11-07 (verified, handed off), cB 11-12 (handed off).
    assert value(report, "right_party_contact_rate", dimension="channel", group="webchat") == (
        pytest.approx(2 / 3)
    )
    assert value(report, "handoff_rate", dimension="channel", group="webchat") == (
        pytest.approx(2 / 3)
    )
    # WhatsApp: cX's one, unverified, handed off.
    assert value(report, "right_party_contact_rate", dimension="channel", group="whatsapp") == 0
    assert value(report, "handoff_rate", dimension="channel", group="whatsapp") == 1
    # Low (Ana and Bruno): four conversations, two verified, one handed off.
    assert value(report, "right_party_contact_rate", dimension="segment", group="low") == 0.5
    assert value(report, "handoff_rate", dimension="segment", group="low") == 0.25
    # The unknown contact is a segment of its own.
    assert value(report, "handoff_rate", dimension="segment", group="unknown") == 1
    # Day 11-03: one conversation, verified.
    assert (
        value(report, "right_party_contact_rate", window=(date(2026, 11, 3), date(2026, 11, 4)))
        == 1
    )
    # Day 11-02: nobody wrote.
    assert (
        report.figure("handoff_rate", window=(date(2026, 11, 2), date(2026, 11, 3))).text() == "n/a"
    )


def test_first_response_times(report):
    # Answered handoffs: 5, 13 and 30 minutes (the one still queued is left out).
    # Median of [5, 13, 30] = 13; p90 by nearest rank: ⌈0.9 × 3⌉ = 3rd = 30.
    assert value(report, "first_response_median") == 13
    assert value(report, "first_response_p90") == 30
    assert report.figure("first_response_median").numerator == 3
    # Web chat: [5, 30] → median 17.5, p90 ⌈1.8⌉ = 2nd = 30. WhatsApp: [13].
    assert value(report, "first_response_median", dimension="channel", group="webchat") == 17.5
    assert value(report, "first_response_p90", dimension="channel", group="webchat") == 30
    assert value(report, "first_response_median", dimension="channel", group="whatsapp") == 13
    # High (Carla): [5].
    assert value(report, "first_response_median", dimension="segment", group="high") == 5
    # Telegram never went to staff: the KPI has no telegram group at all.
    assert report.figure("first_response_median", dimension="channel", group="telegram") is None
    assert report.groups("first_response_median", "channel") == ["webchat", "whatsapp"]
    # CSAT has no "none" channel (only the outbox's suppressed messages have none).
    assert report.groups("csat_average", "channel") == ["telegram", "webchat", "whatsapp"]
    assert report.groups("cure_rate", "segment") == ["high", "low"]


def test_promise_kept_rate(report):
    # Resolved in the period: P1 kept, P2 and P3 broken (cancelled and earlier ones left out).
    assert value(report, "promise_kept_rate") == pytest.approx(1 / 3)
    assert value(report, "promise_kept_rate", dimension="segment", group="low") == 0.5
    assert value(report, "promise_kept_rate", dimension="segment", group="high") == 0
    assert value(report, "promise_kept_rate", dimension="channel", group="telegram") == 1
    assert value(report, "promise_kept_rate", dimension="channel", group="webchat") == 0


def test_csat(report):
    # Scores 5, 4, 2, 5, 1: mean 17 / 5 = 3.4.
    assert value(report, "csat_average") == pytest.approx(3.4)
    distribution = {n: value(report, "csat_distribution", key=str(n)) for n in range(1, 6)}
    assert distribution == {1: 1, 2: 1, 3: 0, 4: 1, 5: 2}
    # Telegram (5 + 4) / 2; web chat (2 + 5) / 2; WhatsApp 1.
    assert value(report, "csat_average", dimension="channel", group="telegram") == 4.5
    assert value(report, "csat_average", dimension="channel", group="webchat") == 3.5
    assert value(report, "csat_average", dimension="channel", group="whatsapp") == 1
    # Low (Ana, Bruno): (5 + 4 + 2) / 3.
    assert value(report, "csat_average", dimension="segment", group="low") == pytest.approx(11 / 3)


def test_reminders_sent_and_suppressed(report):
    # Sent in the period: Ana's, Bruno's and Carla's; suppressed: two opt-outs, one dispute.
    assert value(report, "reminders_sent") == 3
    assert value(report, "reminders_suppressed", key="all") == 3
    assert value(report, "reminders_suppressed", key="opted_out") == 2
    assert value(report, "reminders_suppressed", key="dispute_open") == 1
    assert value(report, "reminders_sent", dimension="channel", group="webchat") == 2
    assert value(report, "reminders_sent", dimension="segment", group="low") == 2
    assert (
        value(report, "reminders_suppressed", dimension="segment", group="high", key="opted_out")
        == 1
    )
    assert report.figure("reminders_suppressed", dimension="channel", group="none", key="all")


# --- pure functions: edge cases ---------------------------------------------------------


def test_no_data_gives_n_a_everywhere_not_a_division_by_zero():
    report = build_report(d.KpiData(), PERIOD)
    for kpi in (
        "promise_kept_rate",
        "cure_rate",
        "self_cure_rate",
        "right_party_contact_rate",
        "handoff_rate",
        "bot_containment",
        "first_response_median",
        "first_response_p90",
        "csat_average",
    ):
        assert report.figure(kpi).text() == "n/a", kpi
    assert report.figure("reminders_sent").text() == "0"
    assert report.keys("recovery_rate") == []  # no currency, no figure


def test_a_debt_placed_but_never_paid_has_a_recovery_rate_of_zero_and_dso_n_a():
    debt = d.DebtRow(
        debt_id=1,
        debtor_id=1,
        segment="low",
        currency="BRL",
        status="overdue",
        placed_on=date(2026, 10, 1),
        placed_minor=1000,
        due_date=date(2026, 9, 1),
        balance_on={START: 1000, END: 1000},
    )
    assert d.recovery_rate([debt], [], START, END)["BRL"].text() == "0.0%"
    assert d.days_sales_outstanding([debt], [], START, END)["BRL"].text() == "n/a"
    assert d.cure_rate([debt], START, END).text() == "0.0%"


def test_a_written_off_debt_is_not_cured_and_not_open():
    debt = d.DebtRow(
        1,
        1,
        "low",
        "BRL",
        "written_off",
        date(2026, 10, 1),
        1000,
        date(2026, 9, 1),
        {START: 1000, END: 0},
    )
    payment = d.PaymentRow(2, "low", "BRL", START, 10)
    assert d.cure_rate([debt], START, END).value == 0
    assert d.days_sales_outstanding([debt], [payment], START, END)["BRL"].value == 0


def test_a_plan_with_a_late_installment_is_not_in_good_standing():
    plan = d.PlanRow(created_on=date(2026, 11, 3), ended_on=None, late_since=date(2026, 11, 10))
    assert plan.in_good_standing_on(date(2026, 11, 5))
    assert not plan.in_good_standing_on(date(2026, 11, 16))
    broken = d.PlanRow(created_on=date(2026, 11, 3), ended_on=date(2026, 11, 9))
    assert not broken.in_good_standing_on(date(2026, 11, 16))


def test_percentiles():
    assert d.median([]) is None and d.percentile([], 0.9) is None
    assert d.median([4, 1, 3, 2]) == 2.5
    assert d.percentile(list(range(1, 11)), 0.9) == 9  # ⌈0.9 × 10⌉ = 9th
    assert d.percentile([7], 0.9) == 7


def test_figures_read_as_people_write_them():
    assert d.ratio(1, 3).text() == "33.3%"
    assert d.Figure(31.5, d.DAYS).text() == "31.5 days"
    assert d.Figure(12.25, d.MINUTES).text() == "12.2 min"
    assert d.Figure(3.4, d.SCORE).text() == "3.40"


def test_periods_are_daily_up_to_a_month_then_weekly():
    assert Period(START, END).granularity == "day"
    assert len(Period(START, END).buckets()) == 14
    quarter = Period(date(2026, 9, 1), date(2026, 12, 1))  # 91 days
    assert quarter.granularity == "week"
    buckets = quarter.buckets()
    assert len(buckets) == 13 and buckets[-1] == (date(2026, 11, 24), date(2026, 12, 1))
    with pytest.raises(ValueError):
        Period(END, START)
    with pytest.raises(ValueError):
        Period(date(2025, 1, 1), date(2026, 6, 1))


def test_every_definition_is_written_down():
    from backend.kpis.report import KPIS

    for spec in KPIS:
        assert len(spec.definition) > 40, spec.key


# --- the page and the CSV ---------------------------------------------------------------

PERIOD_QUERY = "since=2026-11-02&until=2026-11-15"


@pytest.fixture
def console(app):
    from fastapi.testclient import TestClient

    from backend.kpis.views import router
    from tests.staff_login import with_console

    with_console(app)
    if "/console/kpis" not in {getattr(route, "path", None) for route in app.routes}:
        app.include_router(router, prefix="/console")
    with TestClient(app) as client:
        yield client


@pytest.fixture
def signed_in(console, db_session, clock):
    from tests.staff_login import sign_in, staff_member

    sign_in(console, db_session, staff_member(db_session), clock.now())
    return console


def test_the_page_and_the_csv_need_a_session(console):
    response = console.get(f"/console/kpis.csv?{PERIOD_QUERY}")
    assert response.status_code == 401
    page = console.get(
        f"/console/kpis?{PERIOD_QUERY}", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/login")


def test_the_page_shows_figures_charts_and_definitions(signed_in, portfolio):
    response = signed_in.get(f"/console/kpis?{PERIOD_QUERY}")
    assert response.status_code == 200
    html = response.text
    # Recovery BRL 120000 / 390000 = 30.77%; EUR 30000 / 80000 = 37.5%; CSAT 17 / 5 = 3.40;
    # median first response 13 minutes; DSO BRL 260000 / 120000 × 14 = 30.3 days.
    for figure in ("30.8%", "37.5%", "3.40", "13.0 min", "30.3 days", "1,200.00 of 3,900.00 BRL"):
        assert figure in html, figure
    assert "Recovery rate = money collected in the period ÷ money placed" in html
    assert "DSO = open balance at the period" in html
    assert html.count('<svg class="chart"') >= 20
    assert 'role="img"' in html and "<desc" in html
    assert "cdn" not in html.lower() and "<script>" not in html
    assert "Content-Security-Policy" in response.headers
    # A quarter is charted by week; the default period (the last 30 days) by day.
    quarter = signed_in.get("/console/kpis?since=2026-09-01&until=2026-11-30&creditor=")
    assert quarter.status_code == 200 and "charted by week" in quarter.text
    assert "wk 24 Nov" in quarter.text  # 13 weeks from 1 Sep: the last starts on 24 Nov
    assert "charted by day" in signed_in.get("/console/kpis").text


def test_the_csv_has_every_figure_by_bucket_segment_and_channel(signed_in, portfolio):
    import csv
    import io

    from backend.kpis.page import CSV_COLUMNS

    response = signed_in.get(f"/console/kpis.csv?{PERIOD_QUERY}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        'attachment; filename="acordo-kpis-2026-11-02-2026-11-15.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0].keys()) == CSV_COLUMNS

    def row(kpi, granularity="period", dimension="all", group="all", key="", day="2026-11-02"):
        found = [
            r
            for r in rows
            if (r["kpi"], r["granularity"], r["dimension"], r["group"], r["key"], r["from"])
            == (kpi, granularity, dimension, group, key, day)
        ]
        assert len(found) == 1, (kpi, granularity, dimension, group, key, day)
        return found[0]

    recovery = row("recovery_rate", key="BRL")
    assert (recovery["value"], recovery["numerator"], recovery["denominator"]) == (
        "0.307692",
        "120000",
        "390000",
    )
    assert recovery["to"] == "2026-11-15" and recovery["unit"] == "rate"
    # Day 11-05: 100000 / 350000.
    assert row("recovery_rate", "day", key="BRL", day="2026-11-05")["value"] == "0.285714"
    assert row("handoff_rate", dimension="channel", group="whatsapp")["value"] == "1"
    assert row("cure_rate", dimension="segment", group="low")["value"] == "0.5"
    assert row("csat_distribution", key="5")["value"] == "2"
    assert row("reminders_suppressed", key="opted_out")["value"] == "2"
    # n/a is an empty value: DSO of the high segment in BRL collected nothing.
    assert row("dso", dimension="segment", group="high", key="BRL")["value"] == ""
    # Daily buckets for the 14 days, for every KPI.
    days = {r["from"] for r in rows if r["granularity"] == "day"}
    assert len(days) == 14


def test_a_period_that_ends_before_it_starts_is_refused(signed_in):
    response = signed_in.get("/console/kpis.csv?since=2026-11-15&until=2026-11-02")
    assert response.status_code == 400


def test_loading_costs_the_same_statements_whatever_the_portfolio(db_session, engine, portfolio):
    from sqlalchemy import event

    def statements() -> int:
        seen = []

        def count(*_args):
            seen.append(1)

        event.listen(engine, "before_cursor_execute", count)
        try:
            queries.load(db_session=db_session, period=PERIOD)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    before = statements()
    for _ in range(5):
        person = factories.debtor(db_session, portfolio, risk_segment="medium")
        pay(db_session, place(db_session, person, 1000), 500, at(4))
        factories.contact(db_session, person, channel=Channel.TELEGRAM)
    db_session.commit()
    assert statements() == before <= 10


def test_charts_are_accessible_svg_with_values_as_text_and_gaps_for_n_a():
    from backend.kpis.charts import bar_chart, line_chart

    def fmt(value: float) -> str:
        return f"{value * 100:.1f}%"

    line = line_chart(
        chart_id="t1",
        title="Handoff rate <by day>",
        points=[("01 Nov", 0.5), ("02 Nov", None), ("03 Nov", 0.25), ("04 Nov", 0.75)],
        x_label="Day",
        y_label="Rate",
        fmt=fmt,
    )
    assert 'role="img"' in line and 'aria-labelledby="t1-title t1-desc"' in line
    assert "Handoff rate &lt;by day&gt;" in line  # escaped, never markup
    assert "02 Nov: n/a" in line  # the description reads every value
    assert ">25.0%<" in line and ">Day<" in line and ">Rate<" in line
    # The n/a day breaks the line: one point alone, then a line through the last two.
    assert line.count("<polyline") == 1 and line.count("<circle") == 3
    bars = bar_chart(
        chart_id="t2",
        title="CSAT by channel",
        bars=[("telegram", 4.5), ("email", None)],
        x_label="Channel",
        y_label="Score",
        fmt=lambda v: f"{v:.2f}",
    )
    assert bars.count("<rect") == 1 and ">n/a<" in bars and ">4.50<" in bars
