"""What a queued message says: rendered at send time, in the debtor's language, from today's state.

The outbox holds ids only (`params`), so an amount is the one owed when the message goes out,
never a stale copy. Every message names the creditor, an amount, a date, the payment link and
how to stop messages (chat: reply with the stop word; e-mail: the unsubscribe link). Tone:
polite and plain; the final cadence level says a person will review the account, never a
threat. Debt details stay at what a reminder to the debtor's own channel carries: first name,
creditor, amount, date; never a document number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

import locales
from backend.campaigns import cadence
from backend.config import Settings
from backend.creditors.models import Creditor
from backend.debtors.models import Debtor
from backend.debts.models import Debt
from backend.enums import Language
from backend.exceptions import NotFound
from backend.gateway.channels.email import unsubscribe_link
from backend.gateway.channels.webchat import webchat_link
from backend.gateway.keywords import KEYWORDS, Keyword
from backend.gateway.models import MessageKind, OutboundChannel, OutboxMessage
from backend.gateway.rasa_client import Button
from backend.money import to_decimal
from backend.payments.models import Payment
from backend.plans.models import Installment, PaymentPlan
from backend.promises.models import PromiseToPay

N_ = locales.N_

# The body of each cadence level, by the step's message key (cadence.MESSAGE_KEYS).
CADENCE_TEXTS = {
    "before_due": N_(
        "This is a friendly reminder from {creditor}: your payment of {amount} is due on "
        "{due_date}."
    ),
    "due_today": N_(
        "A reminder from {creditor}: your payment of {amount} falls due on {due_date}. If you "
        "have already paid, thank you, and please ignore this message."
    ),
    "overdue_gentle": N_(
        "We haven't yet received your payment of {amount} to {creditor}, which was due on "
        "{due_date}. If you have already paid, thank you, and please ignore this message."
    ),
    "overdue_reminder": N_(
        "Your payment of {amount} to {creditor}, due on {due_date}, is still open. If paying it "
        "all at once is difficult, we can set up a payment plan together."
    ),
    "overdue_firm": N_(
        "Your balance of {amount} with {creditor}, due on {due_date}, is still open. Please pay "
        "it, or reply to this message so that we can find a solution that works for you."
    ),
    "final_notice": N_(
        "Your balance of {amount} with {creditor}, due on {due_date}, is still open. This is our "
        "last reminder before a member of our team reviews your account. You can still pay, or "
        "reply here to agree a plan."
    ),
}
FOLLOW_UP_TEXTS = {
    MessageKind.PROMISE_DUE: N_(
        "A reminder of the payment you arranged with {creditor}: {amount} on {due_date}. Thank you!"
    ),
    MessageKind.INSTALLMENT_DUE: N_(
        "A reminder from {creditor}: the next installment of your payment plan, {amount}, is "
        "due on {due_date}."
    ),
    MessageKind.PROMISE_BROKEN: N_(
        "We didn't receive the payment of {amount} to {creditor} that you had planned for "
        "{due_date}. These things happen: reply here and we'll find another way together."
    ),
    MessageKind.INSTALLMENT_LATE: N_(
        "We haven't yet received the installment of {amount} of your payment plan with "
        "{creditor}, due on {due_date}. Please pay it soon to keep your plan on track; if "
        "something has changed, reply here and we'll help."
    ),
    MessageKind.PLAN_BROKEN: N_(
        "Your payment plan with {creditor} has ended because installments due since {due_date} "
        "were not paid. The remaining balance is {amount}. Reply here and we can look at a new "
        "arrangement together."
    ),
    MessageKind.PAYMENT_THANKS: N_(
        "Thank you! {creditor} received your payment of {amount} on {due_date}."
    ),
}
SUBJECTS = {
    MessageKind.REMINDER: N_("{creditor}: payment reminder"),
    MessageKind.PROMISE_DUE: N_("{creditor}: your payment is coming up"),
    MessageKind.INSTALLMENT_DUE: N_("{creditor}: your payment is coming up"),
    MessageKind.PROMISE_BROKEN: N_("{creditor}: about your payment"),
    MessageKind.INSTALLMENT_LATE: N_("{creditor}: about your payment"),
    MessageKind.PLAN_BROKEN: N_("{creditor}: about your payment plan"),
    MessageKind.PAYMENT_THANKS: N_("{creditor}: thank you for your payment"),
}
CHAT_CHANNELS = frozenset(
    {OutboundChannel.WHATSAPP, OutboundChannel.TELEGRAM, OutboundChannel.WEBCHAT}
)


@dataclass(frozen=True)
class RenderedMessage:
    text: str  # full text for chat channels and the e-mail body
    subject: str  # e-mail subject
    buttons: list[Button] = field(default_factory=list)  # quick replies
    # WhatsApp template body parameters (outside the 24-hour window): name, amount, date, link.
    template_parameters: list[str] = field(default_factory=list)
    # Sets the conversation's context, so a reply continues about this debt.
    debt_reference: str | None = None


@dataclass(frozen=True)
class _Facts:
    """What one message is about, already formatted for the debtor's language."""

    body: str
    amount: str
    due_date: str
    balance_after: str | None = None  # payment thanks: what is still owed (None: nothing)


def render(
    db_session: Session,
    message: OutboxMessage,
    *,
    language: str,
    channel: OutboundChannel,
    settings: Settings,
    now: datetime,
) -> RenderedMessage:
    """The message in `language` for `channel`, from the current state of what it refers to."""
    language = locales.normalize_language(language)
    debtor = db_session.get(Debtor, message.debtor_id)
    debt = db_session.get(Debt, message.debt_id) if message.debt_id is not None else None
    if debtor is None or debt is None:
        raise NotFound(f"outbox message {message.id} refers to nothing", reason_code="not_found")
    creditor = debt.creditor
    facts = _facts(db_session, message, debtor, debt, creditor, language, now)
    name = first_name(debtor)
    link = payment_link(creditor, debt)
    paragraphs = [
        locales.translate(language, "Hello {name},", name=name)
        if name
        else locales.translate(language, "Hello,"),
        facts.body,
    ]
    if message.kind is MessageKind.PAYMENT_THANKS:
        paragraphs.append(
            locales.translate(
                language, "Your remaining balance is {balance}.", balance=facts.balance_after
            )
            if facts.balance_after
            else locales.translate(language, "Your debt is now fully paid.")
        )
    if link and (message.kind is not MessageKind.PAYMENT_THANKS or facts.balance_after):
        paragraphs.append(locales.translate(language, "You can pay here: {link}", link=link))
    paragraphs.extend(_how_to_stop(channel, language, debtor, settings, now))
    subject = locales.translate(language, SUBJECTS[message.kind], creditor=creditor.name)
    return RenderedMessage(
        text="\n\n".join(paragraphs),
        subject=subject,
        buttons=_buttons(message.kind, channel, language),
        template_parameters=[name, facts.amount, facts.due_date, link or ""],
        debt_reference=debt.reference,
    )


def first_name(debtor: Debtor) -> str:
    """The first name alone (an erased debtor's placeholder is not a name)."""
    if debtor.erased_at is not None or not debtor.full_name:
        return ""
    return debtor.full_name.split()[0]


def payment_link(creditor: Creditor, debt: Debt) -> str | None:
    template = creditor.payment_url_template
    if not template:
        return creditor.support_url
    return template.replace("{reference}", quote(debt.reference, safe=""))


def message_key(
    db_session: Session, message: OutboxMessage, debt: Debt, risk_segment: str, today: date
) -> str:
    """The message the planner chose; else the step's, else one by the due date."""
    planned = (message.params or {}).get("message")
    if planned in CADENCE_TEXTS:
        return planned
    policy = cadence.policy_for(db_session, debt.creditor_id, risk_segment)
    step = cadence.step_at(policy, message.level or 0) if policy is not None else None
    if step is not None:
        return step.message
    days = (today - debt.due_date).days
    if days < 0:
        return "before_due"
    return "due_today" if days == 0 else "overdue_reminder"


def _money(minor: int, currency: str, language: str) -> str:
    return locales.format_money(to_decimal(minor, currency), currency, language)


def _facts(
    db_session: Session,
    message: OutboxMessage,
    debtor: Debtor,
    debt: Debt,
    creditor: Creditor,
    language: str,
    now: datetime,
) -> _Facts:
    currency = debt.currency
    params = message.params or {}
    amount_minor, day = debt.outstanding_minor, debt.due_date
    balance_after = None
    if message.kind is MessageKind.REMINDER:
        today = now.astimezone(ZoneInfo(debtor.timezone)).date()
        template = CADENCE_TEXTS[message_key(db_session, message, debt, debtor.risk_segment, today)]
    else:
        template = FOLLOW_UP_TEXTS[message.kind]
    if message.kind in (MessageKind.PROMISE_DUE, MessageKind.PROMISE_BROKEN):
        promise = _required(db_session, PromiseToPay, params.get("promise_id"))
        amount_minor, day = promise.amount_minor, promise.promised_date
    elif message.kind in (MessageKind.INSTALLMENT_DUE, MessageKind.INSTALLMENT_LATE):
        installment = _required(db_session, Installment, params.get("installment_id"))
        amount_minor = max(installment.amount_minor - installment.paid_minor, 0)
        day = installment.due_date
    elif message.kind is MessageKind.PLAN_BROKEN:
        plan = _required(db_session, PaymentPlan, params.get("plan_id"))
        unpaid = [item.due_date for item in plan.installments if not item.is_paid]
        day = min(unpaid) if unpaid else day
    elif message.kind is MessageKind.PAYMENT_THANKS:
        payment = _required(db_session, Payment, params.get("payment_id"))
        amount_minor, currency = payment.amount_minor, payment.currency
        day = payment.paid_at.astimezone(ZoneInfo(debtor.timezone)).date()
        if debt.outstanding_minor > 0:
            balance_after = _money(debt.outstanding_minor, debt.currency, language)
    amount = _money(amount_minor, currency, language)
    due_date = locales.format_day(day, language)
    body = locales.translate(
        language, template, creditor=creditor.name, amount=amount, due_date=due_date
    )
    return _Facts(body=body, amount=amount, due_date=due_date, balance_after=balance_after)


def _required(db_session: Session, model: type, key: object):
    found = db_session.get(model, key) if key is not None else None
    if found is None:
        raise NotFound(f"{model.__name__} {key!r} not found", reason_code="not_found")
    return found


def _buttons(kind: MessageKind, channel: OutboundChannel, language: str) -> list[Button]:
    if channel not in CHAT_CHANNELS:
        return []  # e-mail has links instead
    buttons = []
    if kind is not MessageKind.PAYMENT_THANKS:
        buttons.append(
            Button(
                title=locales.translate(language, "Set up a plan"),
                payload="/request_payment_plan",
            )
        )
    buttons.append(
        Button(title=locales.translate(language, "Talk to a person"), payload="/request_human")
    )
    return buttons


def stop_word(language: str) -> str:
    """The stop word replies quote in this language (the gateway honours all of them)."""
    return KEYWORDS[Keyword.OPT_OUT][Language(language)][0]


def _how_to_stop(
    channel: OutboundChannel, language: str, debtor: Debtor, settings: Settings, now: datetime
) -> list[str]:
    if channel in CHAT_CHANNELS:
        return [
            locales.translate(
                language, "To stop these messages, reply {stop}.", stop=stop_word(language)
            )
        ]
    return [
        locales.translate(
            language,
            "To talk to us about it, continue in the web chat: {link}",
            link=webchat_link(settings, debtor.id, now),
        ),
        locales.translate(
            language,
            "To stop these e-mails, open this link: {link}",
            link=unsubscribe_link(settings, debtor.id, now),
        ),
    ]
