"""The compliance gate: every rule with a frozen clock in the debtor's time zone, the facts
loaded for a batch of outbox rows, and the routes that edit the contact rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from backend.campaigns import contact_rules, gate
from backend.campaigns.contact_rules import DEFAULT_RULES
from backend.campaigns.contact_rules_views import router as contact_rules_router
from backend.campaigns.gate import (
    ContactRuleFacts,
    DebtFacts,
    DebtorFacts,
    Defer,
    MessageFacts,
    Route,
    RouteFacts,
    Send,
    Skip,
    Suppress,
    decide,
    window_opens_at,
)
from backend.campaigns.models import CadencePolicy, CadenceStep, ContactRule
from backend.config import Settings
from backend.debts.models import DebtStatus
from backend.disputes.models import Dispute, DisputeReason, DisputeStatus
from backend.enums import Channel, Language
from backend.gateway.models import MessageKind, OutboundChannel, OutboxMessage, OutboxStatus
from backend.negotiation.engine import PlanKind
from backend.payments.models import ClaimStatus, PaymentClaim
from backend.plans.models import Installment, PaymentPlan, PlanStatus
from backend.promises.models import PromiseStatus, PromiseToPay
from tests import factories

UTC = timezone.utc
WA, TG, WEB, MAIL = (
    OutboundChannel.WHATSAPP,
    OutboundChannel.TELEGRAM,
    OutboundChannel.WEBCHAT,
    OutboundChannel.EMAIL,
)
# Every day open, no holidays, generous caps: tests of one rule switch that rule on.
OPEN_RULE = ContactRuleFacts(
    "*", time(8), time(21), frozenset(), skip_public_holidays=False, max_per_day=9,
    max_per_7_days=50,
)  # fmt: skip


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def whatsapp(last_inbound_at=None, **overrides) -> RouteFacts:
    values = dict(last_inbound_at=last_inbound_at, template_available=False)
    values.update(overrides)
    return RouteFacts(Route(WA, 11, "5511987650001"), **values)


def telegram(**overrides) -> RouteFacts:
    return RouteFacts(Route(TG, 12, "900100"), **overrides)


def webchat(last_inbound_at=None, **overrides) -> RouteFacts:
    return RouteFacts(Route(WEB, 13, "web-1"), last_inbound_at=last_inbound_at, **overrides)


def email(**overrides) -> RouteFacts:
    return RouteFacts(Route(MAIL, None, "ana@example.com"), **overrides)


def no_contact(channel: OutboundChannel) -> RouteFacts:
    return RouteFacts(Route(channel, None, ""), unreachable=gate.SKIP_NO_CONTACT)


def person(tz="America/Sao_Paulo", country="BR", routes=None, **overrides) -> DebtorFacts:
    values = dict(
        timezone=tz,
        country=country,
        erased=False,
        routes=tuple(routes) if routes is not None else (telegram(),),
        recent_sends=(),
    )
    values.update(overrides)
    return DebtorFacts(**values)


def reminder(kind=MessageKind.REMINDER, scheduled_for=date(2026, 1, 1), **overrides):
    return MessageFacts(kind=kind, level=1, scheduled_for=scheduled_for, debt_id=1, **overrides)


def overdue(**overrides) -> DebtFacts:
    return DebtFacts(status=DebtStatus.OVERDUE, outstanding_minor=245090, **overrides)


def send_on(route: RouteFacts, template_only: bool = False) -> Send:
    return Send(route.route, template_only=template_only)


# --- the local time window, across time zones and DST ------------------------------------


@pytest.mark.parametrize(
    ("tz", "local_now", "allowed", "opens"),
    [
        # São Paulo (UTC−3 all year): 08:00 is 11:00 UTC.
        ("America/Sao_Paulo", (2026, 11, 25, 7, 59), False, utc(2026, 11, 25, 11)),
        ("America/Sao_Paulo", (2026, 11, 25, 8, 0), True, None),
        ("America/Sao_Paulo", (2026, 11, 25, 20, 59), True, None),
        # 21:00 closes the window: the next opening is tomorrow's 08:00.
        ("America/Sao_Paulo", (2026, 11, 25, 21, 0), False, utc(2026, 11, 26, 11)),
        # Rome, the day summer time starts (02:00 → 03:00): 08:00 CEST is 06:00 UTC.
        ("Europe/Rome", (2026, 3, 29, 7, 30), False, utc(2026, 3, 29, 6)),
        ("Europe/Rome", (2026, 3, 29, 8, 30), True, None),
        # Rome, the day before: the opening on the change day is already summer time.
        ("Europe/Rome", (2026, 3, 28, 22, 0), False, utc(2026, 3, 29, 6)),
        # Rome, the day summer time ends: 08:00 CET is 07:00 UTC.
        ("Europe/Rome", (2026, 10, 25, 7, 30), False, utc(2026, 10, 25, 7)),
        # New York, both change days: 08:00 EDT is 12:00 UTC, 08:00 EST is 13:00 UTC.
        ("America/New_York", (2026, 3, 8, 7, 30), False, utc(2026, 3, 8, 12)),
        ("America/New_York", (2026, 3, 8, 8, 30), True, None),
        ("America/New_York", (2026, 11, 1, 7, 30), False, utc(2026, 11, 1, 13)),
        ("America/New_York", (2026, 11, 1, 8, 30), True, None),
        # 23:00 EDT on the Saturday before the change: tomorrow's 08:00 is EST.
        ("America/New_York", (2026, 10, 31, 23, 0), False, utc(2026, 11, 1, 13)),
    ],
)
def test_the_window_is_the_debtors_local_time_on_dst_days_too(tz, local_now, allowed, opens):
    now = datetime(*local_now, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    route = telegram()

    decision = decide(reminder(), person(tz=tz, routes=[route]), overdue(), OPEN_RULE, now)

    if allowed:
        assert decision == send_on(route)
    else:
        assert decision == Defer(until=opens, reason="outside_hours")


def test_window_opens_at_gives_the_utc_instant_of_the_local_opening():
    assert window_opens_at(OPEN_RULE, "America/Sao_Paulo", date(2026, 11, 25)) == utc(
        2026, 11, 25, 11
    )
    assert window_opens_at(OPEN_RULE, "Europe/Rome", date(2026, 3, 29)) == utc(2026, 3, 29, 6)
    assert window_opens_at(OPEN_RULE, "Europe/Rome", date(2026, 3, 28)) == utc(2026, 3, 28, 7)
    assert window_opens_at(OPEN_RULE, "America/New_York", date(2026, 3, 8)) == utc(2026, 3, 8, 12)
    assert window_opens_at(OPEN_RULE, "America/New_York", date(2026, 11, 1)) == utc(2026, 11, 1, 13)


def test_a_window_opening_in_a_skipped_hour_opens_when_the_clocks_jump():
    # Rome skips 02:00–03:00 on 2026-03-29; São Paulo skipped 00:00–01:00 on 2018-11-04.
    at_half_past_two = replace(OPEN_RULE, window_start=time(2, 30))
    at_midnight = replace(OPEN_RULE, window_start=time(0, 0))
    assert window_opens_at(at_half_past_two, "Europe/Rome", date(2026, 3, 29)) == utc(
        2026, 3, 29, 1
    )
    assert window_opens_at(at_midnight, "America/Sao_Paulo", date(2018, 11, 4)) == utc(
        2018, 11, 4, 3
    )
    # At 01:30 UTC (03:30 CEST) the window is open.
    route = telegram()
    debtor = person(tz="Europe/Rome", routes=[route])
    assert decide(reminder(), debtor, overdue(), at_half_past_two, utc(2026, 3, 29, 1, 30)) == (
        send_on(route)
    )


def test_a_window_opening_in_a_repeated_hour_opens_at_its_first_occurrence():
    # Rome repeats 02:00–03:00 on 2026-10-25: first at 00:00–01:00 UTC, then at 01:00–02:00.
    rule = replace(OPEN_RULE, window_start=time(2, 30))
    route = telegram()
    debtor = person(tz="Europe/Rome", routes=[route])

    assert window_opens_at(rule, "Europe/Rome", date(2026, 10, 25)) == utc(2026, 10, 25, 0, 30)
    assert decide(reminder(), debtor, overdue(), rule, utc(2026, 10, 25, 0, 10)) == Defer(
        until=utc(2026, 10, 25, 0, 30), reason="outside_hours"
    )
    # 02:10 the second time round is after the window opened: open.
    assert decide(reminder(), debtor, overdue(), rule, utc(2026, 10, 25, 1, 10)) == send_on(route)


def test_a_message_for_a_later_local_day_waits_for_that_days_window():
    route = telegram()
    message = reminder(scheduled_for=date(2026, 11, 27))
    now = utc(2026, 11, 25, 15)  # 12:00 in São Paulo, two days early

    decision = decide(message, person(routes=[route]), overdue(), OPEN_RULE, now)

    assert decision == Defer(until=utc(2026, 11, 27, 11), reason="not_yet_due")


# --- excluded weekdays and public holidays -----------------------------------------------


def test_no_contact_on_sunday_the_next_window_is_mondays():
    rule = DEFAULT_RULES["BR"]
    now = utc(2026, 11, 29, 13)  # Sunday 10:00 in São Paulo

    decision = decide(reminder(), person(), overdue(), rule, now)

    assert decision == Defer(until=utc(2026, 11, 30, 11), reason="excluded_weekday")


def test_spain_excludes_the_weekend():
    rule = DEFAULT_RULES["ES"]
    now = utc(2026, 12, 5, 10)  # Saturday 11:00 in Madrid

    decision = decide(reminder(), person(tz="Europe/Madrid", country="ES"), overdue(), rule, now)

    assert decision == Defer(until=utc(2026, 12, 7, 8), reason="excluded_weekday")


@pytest.mark.parametrize(
    ("country", "tz", "now", "opens"),
    [
        # Dia da Consciência Negra, a Friday: Saturday 08:00 in São Paulo.
        ("BR", "America/Sao_Paulo", utc(2026, 11, 20, 13), utc(2026, 11, 21, 11)),
        # L'Immacolata (Tuesday): Wednesday 09:00 in Rome (CET).
        ("IT", "Europe/Rome", utc(2026, 12, 8, 9), utc(2026, 12, 9, 8)),
        # La Inmaculada (Tuesday): Wednesday 09:00 in Madrid.
        ("ES", "Europe/Madrid", utc(2026, 12, 8, 9), utc(2026, 12, 9, 8)),
        # Thanksgiving: Friday 08:00 in New York (EST).
        ("US", "America/New_York", utc(2026, 11, 26, 15), utc(2026, 11, 27, 13)),
    ],
)
def test_no_contact_on_the_countrys_public_holidays(country, tz, now, opens):
    rule = DEFAULT_RULES[country]

    decision = decide(reminder(), person(tz=tz, country=country), overdue(), rule, now)

    assert decision == Defer(until=opens, reason="public_holiday")


def test_after_hours_before_a_holiday_the_next_window_skips_the_holiday():
    rule = DEFAULT_RULES["IT"]
    now = utc(2026, 12, 7, 20, 30)  # Monday 21:30 in Rome; Tuesday is a holiday

    decision = decide(reminder(), person(tz="Europe/Rome", country="IT"), overdue(), rule, now)

    assert decision == Defer(until=utc(2026, 12, 9, 8), reason="outside_hours")


def test_holidays_can_be_allowed_and_unknown_countries_have_none():
    route = telegram()
    holiday = utc(2026, 11, 20, 13)  # Friday, a Brazilian holiday
    allowed = replace(DEFAULT_RULES["BR"], skip_public_holidays=False)

    assert decide(reminder(), person(routes=[route]), overdue(), allowed, holiday) == send_on(route)
    assert decide(
        reminder(), person(country="ZZ", routes=[route]), overdue(), DEFAULT_RULES["*"], holiday
    ) == send_on(route)


# --- frequency caps ----------------------------------------------------------------------

NOW_WEDNESDAY = utc(2026, 11, 25, 13)  # 10:00 in São Paulo
WEEKLY = replace(OPEN_RULE, max_per_day=1, max_per_7_days=7)


def sends_on_previous_days(count: int, hour: int = 14) -> tuple[datetime, ...]:
    return tuple(
        NOW_WEDNESDAY.replace(hour=hour) - timedelta(days=days) for days in range(1, count + 1)
    )


def test_six_sends_in_seven_days_leave_room_for_a_seventh():
    route = telegram()
    debtor = person(routes=[route], recent_sends=sends_on_previous_days(6))

    assert decide(reminder(), debtor, overdue(), WEEKLY, NOW_WEDNESDAY) == send_on(route)


def test_seven_sends_in_seven_days_defer_the_next_until_the_oldest_leaves_the_period():
    # The oldest was 7 days ago at 14:00 UTC: it leaves the period at 14:00 UTC today.
    debtor = person(recent_sends=sends_on_previous_days(7))

    decision = decide(reminder(), debtor, overdue(), WEEKLY, NOW_WEDNESDAY)

    assert decision == Defer(until=utc(2026, 11, 25, 14), reason="weekly_cap")


def test_the_weekly_cap_waits_for_the_window_when_the_oldest_leaves_at_night():
    # The oldest left at 22:00 São Paulo time: the next chance is tomorrow's 08:00.
    recent = sends_on_previous_days(6)[:6] + (utc(2026, 11, 19, 1),)
    debtor = person(recent_sends=recent)

    decision = decide(reminder(), debtor, overdue(), WEEKLY, NOW_WEDNESDAY)

    assert decision == Defer(until=utc(2026, 11, 26, 11), reason="weekly_cap")


def test_the_daily_cap_counts_the_debtors_local_day_on_every_channel():
    # 01:00 UTC today is still yesterday (22:00) in São Paulo: it does not count today.
    route = telegram()
    last_night = person(routes=[route], recent_sends=(utc(2026, 11, 25, 1),))
    this_morning = person(routes=[route], recent_sends=(utc(2026, 11, 25, 11, 5),))

    assert decide(reminder(), last_night, overdue(), WEEKLY, NOW_WEDNESDAY) == send_on(route)
    assert decide(reminder(), this_morning, overdue(), WEEKLY, NOW_WEDNESDAY) == Defer(
        until=utc(2026, 11, 26, 11), reason="daily_cap"
    )


def test_a_thank_you_for_a_payment_is_never_capped_but_keeps_the_window():
    route = telegram()
    debtor = person(routes=[route], recent_sends=sends_on_previous_days(7) + (NOW_WEDNESDAY,))
    paid = DebtFacts(status=DebtStatus.PAID, outstanding_minor=0)
    thanks = reminder(kind=MessageKind.PAYMENT_THANKS)

    assert decide(thanks, debtor, paid, WEEKLY, NOW_WEDNESDAY) == send_on(route)
    assert decide(thanks, debtor, paid, WEEKLY, utc(2026, 11, 26, 3)) == Defer(
        until=utc(2026, 11, 26, 11), reason="outside_hours"
    )
    stopped = person(routes=[telegram(opted_out=True)])
    assert decide(thanks, stopped, paid, WEEKLY, NOW_WEDNESDAY) == Suppress("opted_out")


# --- suppressions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("debt", "reason"),
    [
        (DebtFacts(status=DebtStatus.PAID, outstanding_minor=0), "debt_paid"),
        (DebtFacts(status=DebtStatus.OVERDUE, outstanding_minor=0), "debt_paid"),
        (DebtFacts(status=DebtStatus.WRITTEN_OFF, outstanding_minor=5000), "debt_closed"),
        (overdue(dispute_open=True), "dispute_open"),
        (DebtFacts(status=DebtStatus.DISPUTED, outstanding_minor=5000), "dispute_open"),
        (overdue(payment_claim_open=True), "payment_claim_under_review"),
        (overdue(plan_in_good_standing=True), "plan_in_good_standing"),
        (overdue(promise_until=date(2026, 11, 25)), "promise_active"),
        (overdue(legal_review=True), "legal_review"),
    ],
)
def test_a_reminder_is_suppressed_by_the_state_of_its_debt(debt, reason):
    # Even outside the window: the reason is known now, and final.
    night = utc(2026, 11, 25, 3)

    assert decide(reminder(), person(), debt, OPEN_RULE, night) == Suppress(reason)


def test_an_erased_debtor_and_a_superseded_reminder_get_nothing():
    erased = person(erased=True)
    assert decide(reminder(), erased, overdue(), OPEN_RULE, NOW_WEDNESDAY) == Suppress(
        "debtor_erased"
    )
    thanks = reminder(kind=MessageKind.PAYMENT_THANKS)
    assert decide(thanks, erased, overdue(), OPEN_RULE, NOW_WEDNESDAY) == Suppress("debtor_erased")
    superseded = reminder(is_superseded=True)
    assert decide(superseded, person(), overdue(), OPEN_RULE, NOW_WEDNESDAY) == Suppress(
        "superseded"
    )


def test_the_promise_and_plan_reminders_are_not_suppressed_by_what_they_are_about():
    route = telegram()
    debtor = person(routes=[route])
    promised = overdue(promise_until=date(2026, 11, 26))
    in_plan = DebtFacts(DebtStatus.IN_PLAN, 245090, plan_in_good_standing=True)

    promise_due = reminder(kind=MessageKind.PROMISE_DUE)
    installment_due = reminder(kind=MessageKind.INSTALLMENT_DUE)
    assert decide(promise_due, debtor, promised, OPEN_RULE, NOW_WEDNESDAY) == send_on(route)
    assert decide(installment_due, debtor, in_plan, OPEN_RULE, NOW_WEDNESDAY) == send_on(route)
    # Nor does a dispute let them through.
    disputed = overdue(dispute_open=True, promise_until=date(2026, 11, 26))
    assert decide(promise_due, debtor, disputed, OPEN_RULE, NOW_WEDNESDAY) == Suppress(
        "dispute_open"
    )


def test_reminders_resume_the_day_after_the_promised_date():
    route = telegram()
    promised_yesterday = overdue(promise_until=date(2026, 11, 24))

    assert decide(
        reminder(), person(routes=[route]), promised_yesterday, OPEN_RULE, NOW_WEDNESDAY
    ) == send_on(route)


def test_legal_review_spares_only_the_level_that_announces_it():
    route = telegram()
    in_review = overdue(legal_review=True)

    announcing = reminder(escalates=True)
    assert decide(announcing, person(routes=[route]), in_review, OPEN_RULE, NOW_WEDNESDAY) == (
        send_on(route)
    )


# --- channels ----------------------------------------------------------------------------


def test_an_opted_out_channel_falls_back_to_the_next_in_order():
    stopped = whatsapp(last_inbound_at=NOW_WEDNESDAY, opted_out=True)
    route = telegram()

    decision = decide(
        reminder(), person(routes=[stopped, route]), overdue(), OPEN_RULE, NOW_WEDNESDAY
    )

    assert decision == send_on(route)
    assert decision.skipped == (Skip(WA, "opted_out"),)


def test_opted_out_everywhere_the_debtor_could_be_reached_is_suppressed_as_opt_out():
    routes = [
        whatsapp(opted_out=True),
        no_contact(TG),
        no_contact(WEB),
        email(opted_out=True),
    ]
    assert decide(reminder(), person(routes=routes), overdue(), OPEN_RULE, NOW_WEDNESDAY) == (
        Suppress("opted_out")
    )


def test_no_channel_at_all_is_no_reachable_channel():
    routes = [no_contact(WA), no_contact(TG), no_contact(WEB), no_contact(MAIL)]
    assert decide(reminder(), person(routes=routes), overdue(), OPEN_RULE, NOW_WEDNESDAY) == (
        Suppress("no_reachable_channel")
    )
    assert decide(reminder(), person(routes=[]), overdue(), OPEN_RULE, NOW_WEDNESDAY) == (
        Suppress("no_reachable_channel")
    )


def test_a_channel_that_failed_permanently_falls_back_to_the_next():
    first, second = telegram(), email()
    debtor = person(routes=[first, second])

    after_failure = decide(
        reminder(), debtor, overdue(), OPEN_RULE, NOW_WEDNESDAY, skip_channels=frozenset({TG})
    )
    both_failed = decide(
        reminder(), debtor, overdue(), OPEN_RULE, NOW_WEDNESDAY, skip_channels=frozenset({TG, MAIL})
    )

    assert after_failure == send_on(second)
    assert after_failure.skipped == (Skip(TG, "failed"),)
    assert both_failed == Suppress("no_reachable_channel")


def test_whatsapp_within_24_hours_is_free_form_after_that_template_only():
    recent = whatsapp(last_inbound_at=NOW_WEDNESDAY - timedelta(hours=23), template_available=True)
    stale = whatsapp(last_inbound_at=NOW_WEDNESDAY - timedelta(hours=24), template_available=True)
    never = whatsapp(last_inbound_at=None, template_available=True)

    for route, template_only in ((recent, False), (stale, True), (never, True)):
        decision = decide(reminder(), person(routes=[route]), overdue(), OPEN_RULE, NOW_WEDNESDAY)
        assert decision == send_on(route, template_only=template_only)


def test_whatsapp_outside_24_hours_without_a_template_goes_to_the_next_channel():
    stale = whatsapp(last_inbound_at=NOW_WEDNESDAY - timedelta(days=2))
    route = email()

    decision = decide(
        reminder(), person(routes=[stale, route]), overdue(), OPEN_RULE, NOW_WEDNESDAY
    )
    alone = decide(reminder(), person(routes=[stale]), overdue(), OPEN_RULE, NOW_WEDNESDAY)

    assert decision == send_on(route)
    assert decision.skipped == (Skip(WA, "no_template"),)
    assert alone == Suppress("no_reachable_channel")


def test_an_unlinked_telegram_chat_and_an_idle_web_chat_are_skipped():
    unlinked = telegram(unreachable=gate.SKIP_NOT_LINKED)
    idle = webchat(last_inbound_at=NOW_WEDNESDAY - timedelta(days=30))
    active = webchat(last_inbound_at=NOW_WEDNESDAY - timedelta(days=29))

    decision = decide(
        reminder(), person(routes=[unlinked, idle, email()]), overdue(), OPEN_RULE, NOW_WEDNESDAY
    )
    assert decision == send_on(email())
    assert decision.skipped == (Skip(TG, "not_linked"), Skip(WEB, "webchat_idle"))
    assert decide(reminder(), person(routes=[active]), overdue(), OPEN_RULE, NOW_WEDNESDAY) == (
        send_on(active)
    )


# --- the facts of an outbox batch, from the database ---------------------------------------


def outbox(db_session, debtor, debt, *, kind=MessageKind.REMINDER, level=1, **overrides):
    values = dict(
        dedupe_key=f"{kind.value}:{debt.id if debt else 0}:{level}:{overrides}",
        kind=kind,
        debtor_id=debtor.id,
        debt_id=debt.id if debt else None,
        level=level if kind is MessageKind.REMINDER else None,
        scheduled_for=date(2026, 11, 25),
        not_before=utc(2026, 11, 25, 11),
        params={},
        status=OutboxStatus.PENDING,
    )
    values.update(overrides)
    row = OutboxMessage(**values)
    db_session.add(row)
    db_session.flush()
    return row


def active_plan(db_session, debt, *, late: bool) -> PaymentPlan:
    negotiation = factories.policy(db_session, factories.creditor(db_session))
    plan = PaymentPlan(
        debt_id=debt.id,
        policy_id=negotiation.id,
        status=PlanStatus.ACTIVE,
        kind=PlanKind.INSTALLMENTS,
        currency="BRL",
        balance_minor=100000,
        discount_minor=0,
        interest_minor=0,
        interest_monthly_pct=0,
        down_payment_minor=0,
        installment_count=2,
        total_minor=100000,
        idempotency_key=f"plan-{debt.id}",
        request_fingerprint="x",
    )
    plan.installments = [
        Installment(
            sequence=1,
            due_date=date(2026, 11, 1),
            amount_minor=50000,
            paid_minor=0,
            late_since=date(2026, 11, 6) if late else None,
        ),
        Installment(sequence=2, due_date=date(2026, 12, 1), amount_minor=50000, paid_minor=0),
    ]
    db_session.add(plan)
    db_session.flush()
    return plan


def test_load_facts_reads_a_batch_in_a_fixed_number_of_queries(db_session, engine):
    now = NOW_WEDNESDAY
    contact_rules.seed_defaults(db_session)
    contact_rules.seed_defaults(db_session)  # twice: nothing doubles
    owner = factories.creditor(db_session)
    policy = CadencePolicy(
        creditor_id=owner.id,
        risk_segment="medium",
        channel_order=["telegram", "whatsapp", "email"],
        steps=[
            CadenceStep(level=1, offset_days=0, message="due_today"),
            CadenceStep(level=2, offset_days=30, message="final", escalate=True),
        ],
    )
    db_session.add(policy)
    ana = factories.debtor(db_session, owner, preferred_language=Language.PT_BR)
    bruno = factories.debtor(
        db_session, owner, country="IT", timezone="Europe/Rome", risk_segment="high", email=None,
        preferred_language=Language.IT,
    )  # fmt: skip
    ana_debt = factories.debt(db_session, ana, legal_review_at=now - timedelta(days=1))
    bruno_debt = factories.debt(db_session, bruno)
    # Ana: WhatsApp written to an hour ago, Telegram linked but opted out, e-mail on file.
    wa = factories.contact(
        db_session, ana, channel=Channel.WHATSAPP, external_id="5511900000001",
        last_inbound_at=now - timedelta(hours=1),
    )  # fmt: skip
    factories.contact(
        db_session, ana, channel=Channel.TELEGRAM, external_id="777",
        linked_at=now - timedelta(days=3), opted_out_at=now - timedelta(days=1),
    )  # fmt: skip
    # Bruno: a Telegram chat never linked, a web chat visited last week.
    factories.contact(db_session, bruno, channel=Channel.TELEGRAM, external_id="888")
    web = factories.contact(
        db_session, bruno, channel=Channel.WEBCHAT, last_inbound_at=now - timedelta(days=7)
    )
    db_session.add_all(
        [
            Dispute(debt_id=ana_debt.id, reason=DisputeReason.OTHER, status=DisputeStatus.OPEN),
            PaymentClaim(debt_id=ana_debt.id, paid_on=date(2026, 11, 20), status=ClaimStatus.OPEN),
            PromiseToPay(
                debt_id=bruno_debt.id, amount_minor=1000, promised_date=date(2026, 11, 28),
                status=PromiseStatus.ACTIVE,
            ),
        ]
    )  # fmt: skip
    active_plan(db_session, ana_debt, late=False)
    active_plan(db_session, bruno_debt, late=True)
    # Sent to Ana: two reminders this week (one e-mail), a thank-you (not counted), one too old.
    outbox(
        db_session,
        ana,
        ana_debt,
        level=0,
        status=OutboxStatus.SENT,
        sent_at=now - timedelta(days=1),
    )
    outbox(
        db_session,
        ana,
        ana_debt,
        level=-1,
        status=OutboxStatus.SENT,
        sent_at=now - timedelta(days=3),
    )
    outbox(
        db_session, ana, ana_debt, kind=MessageKind.PAYMENT_THANKS,
        dedupe_key="payment_thanks:1", status=OutboxStatus.SENT, sent_at=now - timedelta(hours=2),
    )  # fmt: skip
    outbox(
        db_session,
        ana,
        ana_debt,
        level=-2,
        status=OutboxStatus.SENT,
        sent_at=now - timedelta(days=8),
    )
    # Level 1 and 2 of Ana's debt are queued: level 1 is superseded; level 2 escalates.
    first = outbox(db_session, ana, ana_debt, level=1)
    final = outbox(db_session, ana, ana_debt, level=2)
    # Bruno: a reminder, and a promise reminder whose promise is gone.
    bruno_reminder = outbox(db_session, bruno, bruno_debt, level=1)
    promise_due = outbox(
        db_session, bruno, bruno_debt, kind=MessageKind.PROMISE_DUE,
        dedupe_key="promise_due:999", params={"promise_id": 999},
    )  # fmt: skip
    db_session.commit()
    settings = Settings(
        environment="test",
        whatsapp_templates={"pt_BR": "lembrete"},
        whatsapp_template_languages={"pt_BR": "pt_BR"},
    )

    statements: list[str] = []

    def count(*_args) -> None:
        statements.append("x")

    batch = [first, final, bruno_reminder, promise_due]
    event.listen(engine, "before_cursor_execute", count)
    try:
        facts = contact_rules.load_facts(db_session, batch, now, settings=settings)
        small_batch_queries = len(statements)
        statements.clear()
        contact_rules.load_facts(db_session, batch[:1], now, settings=settings)
        single_queries = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # The promise lookup is the only extra query; no query per message.
    assert small_batch_queries <= single_queries + 2
    assert small_batch_queries <= 14

    message, debtor, debt, rule = facts[first.id]
    assert message.is_superseded and not message.escalates
    assert facts[final.id][0].escalates and not facts[final.id][0].is_superseded
    assert debtor.timezone == "America/Sao_Paulo" and rule.country == "BR"
    assert [r.route.channel for r in debtor.routes] == [TG, WA, MAIL]
    telegram_facts, whatsapp_facts, email_facts = debtor.routes
    assert telegram_facts.opted_out
    assert whatsapp_facts.route == Route(WA, wa.id, "5511900000001")
    assert whatsapp_facts.template_available
    assert email_facts.route.address == ana.email and not email_facts.opted_out
    assert sorted(debtor.recent_sends) == [now - timedelta(days=3), now - timedelta(days=1)]
    assert debt.dispute_open and debt.payment_claim_open and debt.legal_review
    assert debt.plan_in_good_standing

    message, debtor, debt, rule = facts[bruno_reminder.id]
    assert rule.country == "IT" and rule.window_start == time(9)
    # No cadence policy for "high": the default channel order.
    assert [r.route.channel for r in debtor.routes] == [WA, TG, WEB, MAIL]
    assert debtor.routes[0].unreachable == "no_contact"
    assert debtor.routes[1].unreachable == "not_linked"
    assert debtor.routes[2].route == Route(WEB, web.id, web.external_id)
    assert debtor.routes[3].unreachable == "no_contact"
    assert debtor.recent_sends == ()
    assert not debt.plan_in_good_standing  # an installment is late
    assert debt.promise_until == date(2026, 11, 28)
    assert facts[promise_due.id][0].is_superseded

    # And the gate reads them as a person would: Ana's final level goes by WhatsApp (Telegram
    # opted out) but her debt is disputed; Bruno's reminder waits for his promised date.
    assert decide(*facts[final.id], now) == Suppress("dispute_open")
    assert decide(*facts[bruno_reminder.id], now) == Suppress("promise_active")


def test_rule_for_falls_back_to_the_default_row(db_session):
    assert contact_rules.rule_for(db_session, "BR") == DEFAULT_RULES["*"]  # nothing seeded yet
    contact_rules.seed_defaults(db_session)
    db_session.commit()
    assert contact_rules.rule_for(db_session, "BR") == DEFAULT_RULES["BR"]
    assert contact_rules.rule_for(db_session, "PT") == DEFAULT_RULES["*"]
    # Seeding again leaves a creditor's edit alone.
    edited = replace(DEFAULT_RULES["BR"], window_end=time(19))
    contact_rules.put_rule(db_session=db_session, country="BR", facts=edited)
    assert contact_rules.seed_defaults(db_session) == 0
    assert contact_rules.rule_for(db_session, "BR") == edited


# --- the contact rules API ----------------------------------------------------------------


@pytest.fixture
def app(app):
    """The app, with the contact-rules routes even before backend/main.py includes them."""
    if not any(getattr(r, "path", "").startswith("/api/v1/contact-rules") for r in app.routes):
        app.include_router(contact_rules_router, prefix="/api/v1")
    return app


RULE = {
    "window_start": "09:00",
    "window_end": "19:30",
    "excluded_weekdays": [6, 5],
    "skip_public_holidays": True,
    "max_per_day": 1,
    "max_per_7_days": 3,
}


def test_contact_rules_are_listed_and_edited(client, db_session):
    contact_rules.seed_defaults(db_session)
    db_session.commit()

    listed = client.get("/api/v1/contact-rules")
    assert listed.status_code == 200
    assert {row["country"] for row in listed.json()} == {"*", "BR", "ES", "IT", "US"}

    changed = client.put("/api/v1/contact-rules/pt", json=RULE)
    assert changed.status_code == 200
    assert changed.json() == {**RULE, "country": "PT", "window_start": "09:00:00",
                              "window_end": "19:30:00", "excluded_weekdays": [5, 6]}  # fmt: skip
    again = client.put("/api/v1/contact-rules/PT", json={**RULE, "max_per_7_days": 5})
    assert again.json()["max_per_7_days"] == 5

    db_session.expire_all()
    rows = db_session.scalars(select(ContactRule).where(ContactRule.country == "PT")).all()
    assert len(rows) == 1
    assert contact_rules.rule_for(db_session, "PT").window_end == time(19, 30)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"window_start": "21:00", "window_end": "08:00"}, "window_start must be before"),
        ({"max_per_day": 0}, "max_per_day"),
        ({"max_per_7_days": 0}, "max_per_7_days"),
        ({"excluded_weekdays": [7]}, "excluded_weekdays"),
        ({"excluded_weekdays": [0, 1, 2, 3, 4, 5, 6]}, "at least one weekday"),
        ({"max_per_day": 4}, "cannot exceed"),
    ],
)
def test_an_impossible_contact_rule_is_refused_with_a_clear_message(client, change, says):
    refused = client.put("/api/v1/contact-rules/BR", json={**RULE, **change})

    assert refused.status_code == 422
    assert says in refused.json()["detail"]["message"]


def test_a_country_is_two_letters_or_the_default(client):
    assert client.put("/api/v1/contact-rules/BRA", json=RULE).status_code == 422
    assert client.put("/api/v1/contact-rules/*", json=RULE).status_code == 200


def test_contact_rules_need_the_service_token(anonymous_client):
    assert anonymous_client.get("/api/v1/contact-rules").status_code == 401
    assert anonymous_client.put("/api/v1/contact-rules/BR", json=RULE).status_code == 401
