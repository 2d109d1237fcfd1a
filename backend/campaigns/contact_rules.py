"""Contact rules per country (defaults, reads, edits) and the facts the compliance gate decides on.

The default rows are conservative starting points, not legal advice: a creditor must check
them with counsel for each country it collects in (and for regional rules, which these rows
cannot express: US states, Brazilian states, Spanish autonomous communities).

- `*` (any other country): 08:00–21:00 local, no Sundays or public holidays, at most one
  message a day and 7 in any 7 days.
- US: the FDCPA (15 U.S.C. §1692c(a)(1)) presumes 8 a.m.–9 p.m. local time convenient;
  Regulation F (12 CFR §1006.14(b)(2)) presumes harassment above 7 call attempts in 7 days
  (and within 7 days of a conversation). Sundays and federal holidays are left out by
  choice here, not by federal law.
- BR: no federal hour limit, but the Consumer Code (CDC art. 42, 71) forbids embarrassing or
  disturbing collection, and state laws and the banks' self-regulation commonly keep
  collection contact to about 08:00–20:00 on working days (Saturdays often until 14:00,
  which one window per country cannot express); no Sundays or holidays.
- ES: the collection industry's codes of conduct and the rules on commercial calls commonly
  keep contact to 09:00–21:00 on working days: no weekends or holidays.
- IT: the Garante's rules on debt collection forbid contact at unreasonable hours; common
  practice is 09:00–20:00, no Sundays or holidays.
These summaries are a starting point written from general knowledge, not a legal review.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, selectinload

from backend.campaigns import gate
from backend.campaigns.gate import (
    ContactRuleFacts,
    DebtFacts,
    DebtorFacts,
    MessageFacts,
    Route,
    RouteFacts,
)
from backend.campaigns.models import DEFAULT_COUNTRY, CadencePolicy, ContactRule
from backend.config import Settings, get_settings
from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.debts.models import Debt
from backend.disputes.models import Dispute, DisputeStatus
from backend.enums import Channel, Language
from backend.gateway.models import MessageKind, OutboundChannel, OutboxMessage, OutboxStatus
from backend.payments.models import ClaimStatus, PaymentClaim
from backend.plans.models import Installment, PaymentPlan, PlanStatus
from backend.promises.models import PromiseStatus, PromiseToPay

SUNDAY = 6
SATURDAY = 5

DEFAULT_RULES: dict[str, ContactRuleFacts] = {
    DEFAULT_COUNTRY: ContactRuleFacts(DEFAULT_COUNTRY, time(8), time(21), frozenset({SUNDAY})),
    "US": ContactRuleFacts("US", time(8), time(21), frozenset({SUNDAY})),
    "BR": ContactRuleFacts("BR", time(8), time(20), frozenset({SUNDAY})),
    "ES": ContactRuleFacts("ES", time(9), time(21), frozenset({SATURDAY, SUNDAY})),
    "IT": ContactRuleFacts("IT", time(9), time(20), frozenset({SUNDAY})),
}

# A debtor's channels, tried in this order when their cadence policy names none.
DEFAULT_CHANNEL_ORDER = (
    OutboundChannel.WHATSAPP,
    OutboundChannel.TELEGRAM,
    OutboundChannel.WEBCHAT,
    OutboundChannel.EMAIL,
)
# Messages that count towards a debtor's frequency caps once handed to a channel (a message
# in doubt may have been delivered, so it counts too).
_DELIVERED = (OutboxStatus.SENT, OutboxStatus.IN_DOUBT)
# Queued or gone: a newer reminder in these states supersedes an older one.
_QUEUED_OR_SENT = (
    OutboxStatus.PENDING,
    OutboxStatus.SENDING,
    OutboxStatus.SENT,
    OutboxStatus.IN_DOUBT,
)

Facts = tuple[MessageFacts, DebtorFacts, DebtFacts | None, ContactRuleFacts]


def facts_of(rule: ContactRule) -> ContactRuleFacts:
    return ContactRuleFacts(
        country=rule.country,
        window_start=rule.window_start,
        window_end=rule.window_end,
        excluded_weekdays=frozenset(rule.excluded_weekdays),
        skip_public_holidays=rule.skip_public_holidays,
        max_per_day=rule.max_per_day,
        max_per_7_days=rule.max_per_7_days,
    )


def seed_defaults(db_session: Session) -> int:
    """Add the default rows that are missing (edited rows stay as they are); flushes only.

    Returns how many rows were added.
    """
    existing = set(db_session.scalars(select(ContactRule.country)))
    added = 0
    for country, facts in DEFAULT_RULES.items():
        if country in existing:
            continue
        db_session.add(
            ContactRule(
                country=country,
                window_start=facts.window_start,
                window_end=facts.window_end,
                excluded_weekdays=sorted(facts.excluded_weekdays),
                skip_public_holidays=facts.skip_public_holidays,
                max_per_day=facts.max_per_day,
                max_per_7_days=facts.max_per_7_days,
            )
        )
        added += 1
    db_session.flush()
    return added


def list_rules(*, db_session: Session) -> list[ContactRule]:
    return list(db_session.scalars(select(ContactRule).order_by(ContactRule.country)))


def get_rule(*, db_session: Session, country: str) -> ContactRule | None:
    query = select(ContactRule).where(ContactRule.country == country)
    return db_session.scalars(query).one_or_none()


def put_rule(*, db_session: Session, country: str, facts: ContactRuleFacts) -> ContactRule:
    """Create or replace a country's rule, and commit."""
    rule = get_rule(db_session=db_session, country=country)
    if rule is None:
        rule = ContactRule(country=country)
        db_session.add(rule)
    rule.window_start = facts.window_start
    rule.window_end = facts.window_end
    rule.excluded_weekdays = sorted(facts.excluded_weekdays)
    rule.skip_public_holidays = facts.skip_public_holidays
    rule.max_per_day = facts.max_per_day
    rule.max_per_7_days = facts.max_per_7_days
    db_session.commit()
    return rule


def rule_for(db_session: Session, country: str) -> ContactRuleFacts:
    """The country's rule, else the `*` row, else the built-in default."""
    rows = {
        row.country: row
        for row in db_session.scalars(
            select(ContactRule).where(ContactRule.country.in_([country, DEFAULT_COUNTRY]))
        )
    }
    return _pick_rule(rows, country)


def _pick_rule(rows: dict[str, ContactRule], country: str) -> ContactRuleFacts:
    row = rows.get(country) or rows.get(DEFAULT_COUNTRY)
    return facts_of(row) if row is not None else DEFAULT_RULES[DEFAULT_COUNTRY]


# --- facts for a batch of outbox rows -----------------------------------------------------


def load_facts(
    db_session: Session,
    messages: list[OutboxMessage],
    now: datetime,
    *,
    settings: Settings | None = None,
) -> dict[int, Facts]:
    """The gate's facts for each message, by outbox id, in a fixed number of queries.

    A message whose debtor no longer exists is left out.
    """
    if not messages:
        return {}
    settings = settings or get_settings()
    debtor_ids = {message.debtor_id for message in messages}
    debt_ids = {message.debt_id for message in messages if message.debt_id is not None}

    debtors = {
        debtor.id: debtor
        for debtor in db_session.scalars(select(Debtor).where(Debtor.id.in_(debtor_ids)))
    }
    contacts: dict[int, list[ChannelContact]] = defaultdict(list)
    for contact in db_session.scalars(
        select(ChannelContact)
        .where(ChannelContact.debtor_id.in_(debtor_ids))
        .order_by(ChannelContact.id)
    ):
        contacts[contact.debtor_id].append(contact)
    rules = {row.country: row for row in db_session.scalars(select(ContactRule))}
    policies = _policies(db_session, {debtor.creditor_id for debtor in debtors.values()})
    recent_sends = _recent_sends(db_session, debtor_ids, now)
    debt_facts = _debt_facts(db_session, debt_ids)
    superseded = _superseded(db_session, messages, debtors, debt_ids, now)

    facts: dict[int, Facts] = {}
    for message in messages:
        debtor = debtors.get(message.debtor_id)
        if debtor is None:
            continue
        policy = policies.get((debtor.creditor_id, debtor.risk_segment))
        order = _channel_order(policy)
        # The planner marks the level that announced the review (the segment may move since).
        escalates = bool((message.params or {}).get("escalates")) or (
            policy is not None
            and any(step.escalate and step.level == message.level for step in policy.steps)
        )
        message_facts = MessageFacts(
            kind=message.kind,
            level=message.level,
            scheduled_for=message.scheduled_for,
            debt_id=message.debt_id,
            is_superseded=message.id in superseded,
            escalates=message.kind is MessageKind.REMINDER and escalates,
        )
        debtor_facts = DebtorFacts(
            timezone=debtor.timezone,
            country=debtor.country,
            erased=debtor.erased_at is not None,
            routes=tuple(
                _route_facts(channel, debtor, contacts[debtor.id], settings) for channel in order
            ),
            recent_sends=tuple(recent_sends.get(debtor.id, ())),
        )
        debt = debt_facts.get(message.debt_id) if message.debt_id is not None else None
        facts[message.id] = (message_facts, debtor_facts, debt, _pick_rule(rules, debtor.country))
    return facts


def _policies(db_session: Session, creditor_ids: set[int]) -> dict[tuple[int, str], CadencePolicy]:
    query = (
        select(CadencePolicy)
        .where(CadencePolicy.creditor_id.in_(creditor_ids))
        .options(selectinload(CadencePolicy.steps))
    )
    policies = db_session.scalars(query)
    return {(policy.creditor_id, policy.risk_segment): policy for policy in policies}


def _channel_order(policy: CadencePolicy | None) -> tuple[OutboundChannel, ...]:
    if policy is None or not policy.channel_order:
        return DEFAULT_CHANNEL_ORDER
    order: list[OutboundChannel] = []
    for value in policy.channel_order:
        try:
            channel = OutboundChannel(value)
        except ValueError:
            continue  # an unknown channel name in an old policy sends nothing
        if channel not in order:
            order.append(channel)
    return tuple(order)


def _recent_sends(
    db_session: Session, debtor_ids: set[int], now: datetime
) -> dict[int, list[datetime]]:
    sent_at = func.coalesce(OutboxMessage.sent_at, OutboxMessage.updated_at)
    query = select(OutboxMessage.debtor_id, sent_at).where(
        OutboxMessage.debtor_id.in_(debtor_ids),
        OutboxMessage.status.in_(_DELIVERED),
        OutboxMessage.kind.not_in(gate.TRANSACTIONAL_KINDS),
        sent_at > now - gate.CAP_PERIOD,
    )
    sends: dict[int, list[datetime]] = defaultdict(list)
    for debtor_id, when in db_session.execute(query):
        sends[debtor_id].append(_aware(when))
    return sends


def _aware(value: datetime | str) -> datetime:
    """A coalesce() result: SQLite hands back naive UTC (or text), PostgreSQL aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo("UTC"))


def _debt_facts(db_session: Session, debt_ids: set[int]) -> dict[int, DebtFacts]:
    if not debt_ids:
        return {}
    debts = list(db_session.scalars(select(Debt).where(Debt.id.in_(debt_ids))))
    disputed = set(
        db_session.scalars(
            select(Dispute.debt_id).where(
                Dispute.debt_id.in_(debt_ids), Dispute.status == DisputeStatus.OPEN
            )
        )
    )
    claimed = set(
        db_session.scalars(
            select(PaymentClaim.debt_id).where(
                PaymentClaim.debt_id.in_(debt_ids), PaymentClaim.status == ClaimStatus.OPEN
            )
        )
    )
    # An active plan is in good standing while none of its unpaid installments is late.
    late = and_(
        Installment.plan_id == PaymentPlan.id,
        Installment.late_since.is_not(None),
        Installment.paid_minor < Installment.amount_minor,
    )
    plans = db_session.execute(
        select(PaymentPlan.debt_id, func.count(Installment.id))
        .outerjoin(Installment, late)
        .where(PaymentPlan.debt_id.in_(debt_ids), PaymentPlan.status == PlanStatus.ACTIVE)
        .group_by(PaymentPlan.debt_id)
    )
    good_standing = {debt_id for debt_id, late_count in plans if late_count == 0}
    promised = dict(
        db_session.execute(
            select(PromiseToPay.debt_id, PromiseToPay.promised_date).where(
                PromiseToPay.debt_id.in_(debt_ids), PromiseToPay.status == PromiseStatus.ACTIVE
            )
        ).all()
    )
    return {
        debt.id: DebtFacts(
            status=debt.status,
            outstanding_minor=debt.outstanding_minor,
            dispute_open=debt.id in disputed,
            payment_claim_open=debt.id in claimed,
            plan_in_good_standing=debt.id in good_standing,
            promise_until=promised.get(debt.id),
            legal_review=debt.legal_review_at is not None,
        )
        for debt in debts
    }


def _superseded(
    db_session: Session,
    messages: list[OutboxMessage],
    debtors: dict[int, Debtor],
    debt_ids: set[int],
    now: datetime,
) -> set[int]:
    """Messages overtaken by events.

    A reminder is superseded by a newer level of the same debt already due (queued or sent);
    a promise's reminder once the promise is no longer active; an installment's reminder once
    it is paid or its plan is no longer active.
    """
    levels: dict[int, list[tuple[int, date]]] = defaultdict(list)
    if debt_ids:
        for debt_id, level, scheduled_for in db_session.execute(
            select(OutboxMessage.debt_id, OutboxMessage.level, OutboxMessage.scheduled_for).where(
                OutboxMessage.debt_id.in_(debt_ids),
                OutboxMessage.kind == MessageKind.REMINDER,
                OutboxMessage.status.in_(_QUEUED_OR_SENT),
                OutboxMessage.level.is_not(None),
            )
        ):
            levels[debt_id].append((level, scheduled_for))
    promise_ids = _param_ids(messages, MessageKind.PROMISE_DUE, "promise_id")
    promises_active = set()
    if promise_ids:
        promises_active = set(
            db_session.scalars(
                select(PromiseToPay.id).where(
                    PromiseToPay.id.in_(promise_ids), PromiseToPay.status == PromiseStatus.ACTIVE
                )
            )
        )
    installment_ids = _param_ids(messages, MessageKind.INSTALLMENT_DUE, "installment_id")
    installments_open = set()
    if installment_ids:
        installments_open = set(
            db_session.scalars(
                select(Installment.id)
                .join(PaymentPlan, Installment.plan_id == PaymentPlan.id)
                .where(
                    Installment.id.in_(installment_ids),
                    Installment.paid_minor < Installment.amount_minor,
                    PaymentPlan.status == PlanStatus.ACTIVE,
                )
            )
        )

    superseded: set[int] = set()
    for message in messages:
        debtor = debtors.get(message.debtor_id)
        if debtor is None:
            continue
        if message.kind is MessageKind.REMINDER and message.level is not None:
            today = now.astimezone(ZoneInfo(debtor.timezone)).date()
            if any(
                level > message.level and scheduled_for <= today
                for level, scheduled_for in levels.get(message.debt_id, ())
            ):
                superseded.add(message.id)
        promise_id = _param_id(message, MessageKind.PROMISE_DUE, "promise_id")
        if promise_id is not None and promise_id not in promises_active:
            superseded.add(message.id)
        installment_id = _param_id(message, MessageKind.INSTALLMENT_DUE, "installment_id")
        if installment_id is not None and installment_id not in installments_open:
            superseded.add(message.id)
    return superseded


def _param_id(message: OutboxMessage, kind: MessageKind, key: str) -> int | None:
    if message.kind is not kind:
        return None
    value = (message.params or {}).get(key)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _param_ids(messages: list[OutboxMessage], kind: MessageKind, key: str) -> set[int]:
    found = (_param_id(message, kind, key) for message in messages)
    return {value for value in found if value is not None}


def _route_facts(
    channel: OutboundChannel,
    debtor: Debtor,
    contacts: list[ChannelContact],
    settings: Settings,
) -> RouteFacts:
    if channel is OutboundChannel.EMAIL:
        if not debtor.email:
            return RouteFacts(Route(channel, None, ""), unreachable=gate.SKIP_NO_CONTACT)
        return RouteFacts(
            Route(channel, None, debtor.email), opted_out=debtor.email_opted_out_at is not None
        )
    on_channel = [contact for contact in contacts if contact.channel is Channel(channel.value)]
    if not on_channel:
        return RouteFacts(Route(channel, None, ""), unreachable=gate.SKIP_NO_CONTACT)
    # STOP on one chat of a channel stands for the whole channel.
    opted_out = any(contact.opted_out_at is not None for contact in on_channel)
    unreachable = None
    if channel is OutboundChannel.TELEGRAM:
        # Only a chat bound by a signed deep link has proven who holds it.
        linked = [contact for contact in on_channel if contact.linked_at is not None]
        if linked:
            on_channel = linked
        else:
            unreachable = gate.SKIP_NOT_LINKED
    contact = max(on_channel, key=_latest_inbound)
    template = False
    if channel is OutboundChannel.WHATSAPP:
        language = (contact.language or debtor.preferred_language or Language.EN).value
        template = bool(
            settings.whatsapp_templates.get(language)
            and settings.whatsapp_template_languages.get(language)
        )
    return RouteFacts(
        Route(channel, contact.id, contact.external_id),
        opted_out=opted_out,
        unreachable=unreachable,
        last_inbound_at=contact.last_inbound_at,
        template_available=template,
    )


def _latest_inbound(contact: ChannelContact) -> tuple[datetime, int]:
    return (contact.last_inbound_at or datetime.min.replace(tzinfo=ZoneInfo("UTC")), contact.id)


def window_opening(db_session: Session, debtor: Debtor, day: date) -> datetime:
    """When the debtor's contact window opens on their local `day` (UTC): a `not_before`."""
    return gate.window_opens_at(rule_for(db_session, debtor.country), debtor.timezone, day)
