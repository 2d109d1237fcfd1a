"""What a member of staff does from the console, as plain functions; each is audited.

Every function here records the action with `record_staff_action` (the interaction log, actor
AGENT, `actor_ref` the staff member's id) and commits. Business rules stay in their domain
services: a plan still goes through the backend's quote and accept, so the negotiation
policy applies to staff as to the bot; only a supervisor, with a written reason, may agree a
plan the policy refuses (`create_plan`). Supervisor-only actions check the role here too, so
that no caller can skip it; the routes also refuse agents with 403 before calling.

A staff reply goes out on the debtor's own channel (`reply`): the web chat's page picks it up
from the log (`GET /chat/api/messages`), Telegram and WhatsApp through their outbound
adapters (WhatsApp outside its 24-hour window only as the approved template, the reply its
parameter). The functions that send are coroutines; their database work runs on a worker
thread, like the gateway's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from anyio import to_thread
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.debts import service as debts
from backend.debts.models import Debt, DebtStatus
from backend.disputes import service as disputes
from backend.disputes.models import Dispute, DisputeStatus
from backend.enums import Actor, Channel
from backend.exceptions import Conflict, DomainError, InvalidRequest, PolicyViolation
from backend.gateway.channels.base import (
    ChannelAdapter,
    OutboundText,
    PermanentSendError,
    Recipient,
    SendError,
    TemplateCall,
)
from backend.gateway.channels.whatsapp_api import in_service_window
from backend.gateway.inbound import SENT
from backend.gateway.language import conversation_language
from backend.gateway.models import OutboundChannel
from backend.handoffs import service as handoffs
from backend.handoffs.models import Handoff, HandoffStatus
from backend.interactions.models import Direction, Interaction
from backend.interactions.service import record
from backend.ledger import service as ledger
from backend.ledger.models import EntryKind, LedgerEntry
from backend.money import to_decimal, to_minor
from backend.negotiation.engine import (
    Outcome,
    PlanProposal,
    ReasonCode,
    build_installment_plan,
    build_settlement,
    minimum_down_payment,
)
from backend.negotiation.reasons import STATE_REASONS
from backend.payments import service as payments
from backend.payments.models import ClaimStatus, PaymentClaim
from backend.payments.schemas import PaymentCreate
from backend.plans import service as plans
from backend.plans.models import PaymentPlan
from backend.plans.schemas import PlanAsk, PlanCreate
from backend.promises import service as promises
from backend.promises.models import PromiseToPay
from backend.promises.schemas import PromiseCreate
from backend.staff.audit import record_staff_action
from backend.staff.models import StaffMember, StaffRole
from backend.verification import service as verification
from backend.verification.models import LockLift, VerificationStatus
from locales import N_, translate

log = logging.getLogger(__name__)

# The shortest written reason a supervisor gives for a plan outside the policy.
MIN_EXCEPTION_REASON = 10
# The shortest note that says how identity was checked before a lock is lifted.
MIN_LOCK_NOTE = 10
MAX_REPLY_CHARS = 4000
# The kind a staff message is logged with (reminders have theirs: reminder, broken_promise…).
STAFF_MESSAGE = "staff"

_CHANNEL_OUT = {
    Channel.WEBCHAT: OutboundChannel.WEBCHAT,
    Channel.TELEGRAM: OutboundChannel.TELEGRAM,
    Channel.WHATSAPP: OutboundChannel.WHATSAPP,
}


class Forbidden(DomainError):
    """403: the staff member's role does not allow this (a supervisor's action)."""

    status_code = 403
    reason_code = "forbidden"


class NotDelivered(DomainError):
    """502: the debtor's channel refused the message or could not be reached; nothing logged."""

    status_code = 502
    reason_code = "not_delivered"


def require_supervisor(staff: StaffMember, what: str) -> None:
    if staff.role is not StaffRole.SUPERVISOR:
        raise Forbidden(f"only a supervisor may {what}", reason_code="supervisor_only")


# --- ownership of the conversation ----------------------------------------------------------


def take_over(
    *, db_session: Session, staff: StaffMember, contact: ChannelContact, now: datetime
) -> Handoff:
    """Staff take a conversation on their own initiative (or the queued one, if any)."""
    handoff = handoffs.take_over(db_session, contact=contact, staff=staff, now=now)
    record_staff_action(
        db_session,
        staff=staff,
        now=now,
        event="take_over",
        contact=contact,
        data={"handoff_id": handoff.id},
    )
    db_session.commit()
    return handoff


def take(*, db_session: Session, staff: StaffMember, handoff: Handoff, now: datetime) -> Handoff:
    """Take a queued handoff from the queue ("Take")."""
    if handoff.status is not HandoffStatus.QUEUED:
        raise Conflict("this conversation was already taken", reason_code="handoff_not_queued")
    handoff = handoffs.assign(db_session, handoff=handoff, staff=staff, now=now)
    contact = db_session.get(ChannelContact, handoff.contact_id)
    record_staff_action(
        db_session,
        staff=staff,
        now=now,
        event="take",
        contact=contact,
        data={"handoff_id": handoff.id},
    )
    db_session.commit()
    return handoff


def hand_back(
    *, db_session: Session, staff: StaffMember, contact: ChannelContact, now: datetime
) -> Handoff:
    """The bot answers again, with the conversation's context (language, verification, debt)."""
    return _end_handoff(db_session, staff, contact, now, end=handoffs.hand_back, event="hand_back")


def close(
    *, db_session: Session, staff: StaffMember, contact: ChannelContact, now: datetime
) -> Handoff:
    """End the staff episode; the bot owns the conversation's next message."""
    return _end_handoff(db_session, staff, contact, now, end=handoffs.close, event="close")


def _end_handoff(db_session, staff, contact, now, *, end, event: str) -> Handoff:
    handoff = _open_handoff(db_session, contact)
    end(db_session, handoff=handoff, staff=staff, now=now)
    record_staff_action(
        db_session,
        staff=staff,
        now=now,
        event=event,
        contact=contact,
        data={"handoff_id": handoff.id},
    )
    db_session.commit()
    return handoff


def _open_handoff(db_session: Session, contact: ChannelContact) -> Handoff:
    handoff = handoffs.owner_of(db_session, contact)
    if handoff is None:
        raise Conflict("the bot already owns this conversation", reason_code="no_open_handoff")
    return handoff


# --- messages to the debtor ---------------------------------------------------------------


async def reply(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    text: str,
    adapters: Mapping[OutboundChannel, ChannelAdapter],
    now: datetime,
) -> Interaction:
    """Send a staff message to the debtor on the conversation's channel and log it.

    The conversation must be with staff (a queued one is taken by whoever answers). Nothing
    is logged when the channel refuses the message: the error says why.
    """
    text = (text or "").strip()
    if not text:
        raise InvalidRequest("write a message first", reason_code="empty_message")
    if len(text) > MAX_REPLY_CHARS:
        raise InvalidRequest(
            f"messages are limited to {MAX_REPLY_CHARS} characters",
            reason_code="message_too_long",
        )
    handoff = await to_thread.run_sync(
        partial(_replying_handoff, db_session=db_session, staff=staff, contact=contact, now=now)
    )
    sent = await _deliver(
        db_session=db_session, contact=contact, text=text, adapters=adapters, now=now
    )
    return await to_thread.run_sync(
        partial(
            _record_reply,
            db_session=db_session,
            staff=staff,
            contact=contact,
            handoff=handoff,
            text=text,
            sent=sent,
            now=now,
        )
    )


def _replying_handoff(
    *, db_session: Session, staff: StaffMember, contact: ChannelContact, now: datetime
) -> Handoff:
    handoff = handoffs.owner_of(db_session, contact)
    if handoff is None:
        raise Conflict(
            "the bot owns this conversation: take it over before replying",
            reason_code="no_open_handoff",
        )
    if handoff.status is HandoffStatus.QUEUED:
        handoff = handoffs.assign(db_session, handoff=handoff, staff=staff, now=now)
        db_session.commit()
    return handoff


def _record_reply(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    handoff: Handoff,
    text: str,
    sent: dict[str, Any],
    now: datetime,
) -> Interaction:
    message = _log_staff_message(
        db_session=db_session, staff=staff, contact=contact, text=text, sent=sent
    )
    handoffs.note_staff_reply(db_session, handoff=handoff, staff=staff, now=now)
    db_session.flush()
    record_staff_action(
        db_session,
        staff=staff,
        now=now,
        event="reply",
        contact=contact,
        data={"handoff_id": handoff.id, "message_id": message.id, **sent},
    )
    db_session.commit()
    return message


def _log_staff_message(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    text: str,
    sent: dict[str, Any],
    debt_id: int | None = None,
) -> Interaction:
    # Logged like a message the assistant started (event SENT, no buttons), so the web chat's
    # poll shows it and the debtor's next message is read as an ordinary one; the actor says
    # a person wrote it and which one.
    message = record(
        db_session=db_session,
        event=SENT,
        actor=Actor.AGENT,
        actor_ref=str(staff.id),
        direction=Direction.OUTBOUND,
        contact=contact,
        debt_id=debt_id,
        text=text,
        data={"buttons": [], "kind": STAFF_MESSAGE, **sent},
    )
    db_session.flush()
    return message


async def _deliver(
    *,
    db_session: Session,
    contact: ChannelContact,
    text: str,
    adapters: Mapping[OutboundChannel, ChannelAdapter],
    now: datetime,
) -> dict[str, Any]:
    """Put the text on the contact's channel; what to log with it (provider id, template)."""
    if contact.channel is Channel.WEBCHAT:
        # The web chat's page shows what is logged for its session (`pushed_since`); its
        # adapter would log the message a second time, as the assistant's.
        return {}
    channel = _CHANNEL_OUT[contact.channel]
    adapter = adapters.get(channel)
    if adapter is None or not adapter.available():
        raise NotDelivered(
            f"the {contact.channel.value} channel is not configured here",
            reason_code="channel_unavailable",
        )
    language = conversation_language(contact)
    recipient = Recipient(
        channel=channel,
        address=contact.external_id,
        contact_id=contact.id,
        language=language.value if language else "en",
        debtor_id=contact.debtor_id,
    )
    template = None
    if channel is OutboundChannel.WHATSAPP and not in_service_window(contact=contact, now=now):
        template = TemplateCall(parameters=[text])
    try:
        provider_id = await adapter.send(recipient, OutboundText(text=text, template=template))
    except PermanentSendError as exc:
        if exc.reason == "no_template":
            raise NotDelivered(
                "the debtor last wrote on WhatsApp more than 24 hours ago, and no approved "
                "template is configured for their language: the message cannot be sent",
                reason_code="outside_service_window",
            ) from exc
        log.warning("staff reply to contact %s refused: %s", contact.id, exc.reason)
        raise NotDelivered(f"the channel refused the message ({exc.reason})") from exc
    except SendError as exc:
        log.warning("staff reply to contact %s not sent: %s", contact.id, exc.reason)
        raise NotDelivered(
            f"the message could not be sent ({exc.reason}); try again in a moment"
        ) from exc
    sent: dict[str, Any] = {"provider_message_id": provider_id}
    if template is not None:
        sent["template"] = True
    return sent


# --- plans and promises -------------------------------------------------------------------


def create_plan(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    debt: Debt,
    ask: PlanAsk,
    now: datetime,
    exception_reason: str | None = None,
) -> PaymentPlan:
    """Agree a plan for the debtor through the backend's quote and accept.

    The policy decides. When it does not accept the ask as made, a supervisor may agree the
    asked plan anyway with a written reason (audited); anyone else gets the policy's refusal
    with the plans it offers instead. A debt that cannot have a plan at all (disputed, paid,
    already in a plan) is refused to everybody.
    """
    _own_debt(contact, debt)
    quote = plans.quote(db_session=db_session, debt=debt, ask=ask, now=now)
    reason = (exception_reason or "").strip()
    if quote.outcome is Outcome.ACCEPTED and quote.plan is not None:
        request = PlanCreate(
            **quote.plan.ask.model_dump(),
            quote_id=quote.plan.quote_id,
            fingerprint=quote.plan.fingerprint,
        )
        plan, _ = plans.accept(
            db_session=db_session,
            debt=debt,
            request=request,
            idempotency_key=f"console:{uuid.uuid4().hex}",
            channel=contact.channel,
            now=now,
        )
        record_staff_action(
            db_session,
            staff=staff,
            now=now,
            event="plan.created",
            contact=contact,
            debt_id=debt.id,
            data={"plan_id": plan.id, "quote_id": request.quote_id, "exception": False},
        )
        db_session.commit()
        return plan
    code = ReasonCode(quote.reason_code) if quote.reason_code else None
    if code in STATE_REASONS or code in (ReasonCode.START_DATE_IN_PAST, ReasonCode.NOTHING_TO_PAY):
        raise Conflict(quote.message or "this debt cannot have a plan now", reason_code=code.value)
    if not reason:
        raise PolicyViolation(
            quote.message or "the policy does not allow this plan",
            reason_code=quote.reason_code or "policy_violation",
            counter_offers=[offer.model_dump(mode="json") for offer in quote.counter_offers],
        )
    require_supervisor(staff, "approve a plan outside the policy")
    if len(reason) < MIN_EXCEPTION_REASON:
        raise InvalidRequest(
            f"write why the exception is approved (at least {MIN_EXCEPTION_REASON} characters)",
            reason_code="exception_reason_required",
        )
    plan = _agree_exception(
        db_session=db_session,
        debt=debt,
        ask=ask,
        channel=contact.channel,
        now=now,
        reason_code=quote.reason_code,
        quote_id=None,
    )
    record_staff_action(
        db_session,
        staff=staff,
        now=now,
        event="plan.exception_approved",
        contact=contact,
        debt_id=debt.id,
        data={
            "plan_id": plan.id,
            "exception": True,
            "policy_reason": quote.reason_code,
            "reason": reason,
        },
    )
    db_session.commit()
    return plan


def _agree_exception(
    *,
    db_session: Session,
    debt: Debt,
    ask: PlanAsk,
    channel: Channel | None,
    now: datetime,
    reason_code: str | None,
    quote_id: str | None,
) -> PaymentPlan:
    """Store the asked plan as asked, outside the policy's limits (a supervisor approved it).

    Stored as `plans.accept` stores a plan: under the debt's lock, the ledger opened first,
    the debt in plan, an active promise superseded, the plan's interest and discount posted.
    """
    debts.lock_for_update(db_session=db_session, debt=debt)
    ledger.post_accruals(db_session=db_session, debt=debt, now=now)
    ledger.open_debt(db_session=db_session, debt=debt, now=now)
    debts.refuse_if_closed(debt)
    if debt.status is DebtStatus.DISPUTED or debt.status is DebtStatus.IN_PLAN:
        raise Conflict(f"the debt is {debt.status.value}", reason_code=f"debt_{debt.status.value}")
    policy = debts.policy_for(db_session=db_session, debt=debt)
    proposal = _asked_plan(db_session=db_session, debt=debt, ask=ask, now=now)
    body = json.dumps(
        {"debt": debt.reference, "exception": ask.model_dump(mode="json")}, sort_keys=True
    )
    try:
        plan = plans.store_agreed(
            db_session=db_session,
            debt=debt,
            policy=policy,
            proposal=proposal,
            idempotency_key=f"console-exception:{uuid.uuid4().hex}",
            request_fingerprint=hashlib.sha256(body.encode()).hexdigest(),
            channel=channel,
            now=now,
            logged={"quote_id": quote_id, "policy_exception": reason_code},
        )
    except IntegrityError as exc:
        db_session.rollback()
        raise Conflict(
            "the debt already has an active plan", reason_code="plan_already_active"
        ) from exc
    return plan


def _asked_plan(*, db_session: Session, debt: Debt, ask: PlanAsk, now: datetime) -> PlanProposal:
    position = debts.position(db_session=db_session, debt=debt)
    limits = debts.policy_for(db_session=db_session, debt=debt).limits()
    today = debts.local_today(debt.debtor, now)
    start = ask.start_date or today
    if start < today:
        raise InvalidRequest("the first payment cannot be in the past", reason_code="date_past")
    request = ask.to_engine(debt.currency)
    balance = position.outstanding_minor
    if request.lump_sum_minor is not None:
        return build_settlement(
            position=position, amount_minor=request.lump_sum_minor, pay_on=start
        )
    down = request.down_payment_minor
    if down is None:
        down = min(minimum_down_payment(balance, limits), balance - 1)
    if down >= balance:
        raise InvalidRequest(
            "the down payment must be below the balance", reason_code="down_payment_too_high"
        )
    count = request.installments
    if count is None:  # an affordable monthly amount: as many installments as it takes
        count = max(1, math.ceil((balance - down) / (request.monthly_amount_minor or 1)))
    return build_installment_plan(
        position=position,
        policy=limits,
        count=count,
        down_payment_minor=down,
        start=start,
        today=today,
    )


def record_promise(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    debt: Debt,
    amount: Decimal,
    promised_date: date,
    now: datetime,
) -> PromiseToPay:
    """A promise the debtor made to staff: the policy's limits apply as to the bot's."""
    _own_debt(contact, debt)
    created = promises.make(
        db_session=db_session,
        debt=debt,
        promise=PromiseCreate(amount=amount, promised_date=promised_date),
        channel=contact.channel,
        now=now,
    )
    record_staff_action(
        db_session,
        staff=staff,
        now=now,
        event="promise.recorded",
        contact=contact,
        debt_id=debt.id,
        data={"promise_id": created.id},
    )
    db_session.commit()
    return created


# --- disputes and payment claims ----------------------------------------------------------

UPHELD = "upheld"
REJECTED = "rejected"
DISPUTE_REJECTED_MESSAGE = N_(
    "We reviewed what you told us about {reference} and found that the amount is due. "
    "Collection resumes: you can ask me for a payment plan at any time."
)


async def resolve_dispute(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    dispute: Dispute,
    outcome: str,
    note: str,
    adapters: Mapping[OutboundChannel, ChannelAdapter],
    now: datetime,
    corrected_amount: Decimal | None = None,
) -> Dispute:
    """Upheld: the debt is cancelled, or its balance corrected. Rejected: collection resumes.

    A rejection is told to the debtor, in their language, on the conversation's channel; if
    that channel cannot take it the resolution stands and the audit says it was not sent.
    """
    note = (note or "").strip()
    if outcome not in (UPHELD, REJECTED):
        raise InvalidRequest("resolve as upheld or rejected", reason_code="invalid_outcome")
    if not note:
        raise InvalidRequest("write a note on the resolution", reason_code="note_required")
    debt = await to_thread.run_sync(partial(db_session.get, Debt, dispute.debt_id))
    _own_debt(contact, debt)
    resolve = partial(
        _resolve_dispute,
        db_session=db_session,
        staff=staff,
        contact=contact,
        dispute=dispute,
        debt=debt,
        outcome=outcome,
        note=note,
        corrected_amount=corrected_amount,
        now=now,
    )
    await to_thread.run_sync(resolve)
    if outcome == REJECTED:
        language = conversation_language(contact)
        text = translate(
            language.value if language else None, DISPUTE_REJECTED_MESSAGE, reference=debt.reference
        )
        try:
            sent = await _deliver(
                db_session=db_session, contact=contact, text=text, adapters=adapters, now=now
            )
        except NotDelivered as exc:
            await to_thread.run_sync(
                partial(
                    _note_undelivered,
                    db_session=db_session,
                    staff=staff,
                    contact=contact,
                    debt=debt,
                    reason=exc.reason_code,
                    now=now,
                )
            )
        else:
            await to_thread.run_sync(
                partial(
                    _log_and_commit,
                    db_session=db_session,
                    staff=staff,
                    contact=contact,
                    text=text,
                    sent=sent,
                    debt_id=debt.id,
                )
            )
    return dispute


def _resolve_dispute(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    dispute: Dispute,
    debt: Debt,
    outcome: str,
    note: str,
    corrected_amount: Decimal | None,
    now: datetime,
) -> None:
    data: dict[str, Any] = {"dispute_id": dispute.id, "outcome": outcome, "note": note}
    if outcome == UPHELD and corrected_amount is not None:
        corrected = to_minor(corrected_amount, debt.currency)
        _correct_balance(
            db_session=db_session, staff=staff, dispute=dispute, debt=debt, note=note,
            corrected_minor=corrected, now=now,
        )  # fmt: skip
        data["corrected_minor"] = corrected
    else:
        disputes.resolve(
            db_session=db_session,
            dispute=dispute,
            upheld=outcome == UPHELD,
            note=note[:500],
            agent_ref=str(staff.id),
            now=now,
        )
    record_staff_action(
        db_session,
        staff=staff,
        now=now,
        event=f"dispute.{outcome}",
        contact=contact,
        debt_id=debt.id,
        data=data,
    )
    db_session.commit()


def _correct_balance(
    *,
    db_session: Session,
    staff: StaffMember,
    dispute: Dispute,
    debt: Debt,
    note: str,
    corrected_minor: int,
    now: datetime,
) -> None:
    """Upheld in part: the balance becomes the corrected amount (an adjustment entry)."""
    if dispute.status is not DisputeStatus.OPEN:
        raise Conflict("the dispute is already resolved", reason_code="dispute_resolved")
    debts.lock_for_update(db_session=db_session, debt=debt)
    ledger.open_debt(db_session=db_session, debt=debt, now=now)
    if not 0 < corrected_minor < debt.outstanding_minor:
        balance = to_decimal(debt.outstanding_minor, debt.currency)
        raise InvalidRequest(
            f"a corrected amount is above zero and below the balance of {balance}; "
            "to cancel the debt, uphold the dispute without one",
            reason_code="invalid_corrected_amount",
        )
    change = corrected_minor - debt.outstanding_minor
    db_session.add(
        LedgerEntry(
            debt_id=debt.id,
            kind=EntryKind.ADJUSTMENT,
            amount_minor=change,
            effective_date=debts.local_today(debt.debtor, now),
            entry_key=f"dispute:{dispute.id}:correction",
            note="dispute upheld: amount corrected",
        )
    )
    debt.outstanding_minor = corrected_minor
    dispute.status = DisputeStatus.UPHELD
    dispute.resolution_note = note[:500]
    dispute.resolved_at = now
    debt.status = debt.status_before_dispute or DebtStatus.OVERDUE
    debt.status_before_dispute = None
    record(
        db_session=db_session,
        event="dispute.upheld",
        actor=Actor.AGENT,
        actor_ref=str(staff.id),
        debtor_id=debt.debtor_id,
        debt_id=debt.id,
        data={"dispute_id": dispute.id, "corrected_minor": corrected_minor, "change": change},
    )
    db_session.flush()


def _note_undelivered(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    debt: Debt,
    reason: str,
    now: datetime,
) -> None:
    record_staff_action(
        db_session,
        staff=staff,
        now=now,
        event="message.not_delivered",
        contact=contact,
        debt_id=debt.id,
        data={"reason": reason},
    )
    db_session.commit()


def _log_and_commit(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    text: str,
    sent: dict[str, Any],
    debt_id: int,
) -> None:
    _log_staff_message(
        db_session=db_session, staff=staff, contact=contact, text=text, sent=sent, debt_id=debt_id
    )
    db_session.commit()


def confirm_payment_claim(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    claim: PaymentClaim,
    now: datetime,
    amount: Decimal | None = None,
) -> PaymentClaim:
    """The payment was found: it is applied like any payment (ledger, plan, promise, thanks)."""
    debt = db_session.get(Debt, claim.debt_id)
    _own_debt(contact, debt)
    _refuse_resolved_claim(claim)
    amount_minor = claim.amount_minor if amount is None else to_minor(amount, debt.currency)
    if not amount_minor or amount_minor <= 0:
        raise InvalidRequest(
            "the claim names no amount: enter the amount found", reason_code="amount_required"
        )
    claim.status = ClaimStatus.CONFIRMED  # committed with the payment
    paid_at = datetime.combine(claim.paid_on, time(12), tzinfo=ZoneInfo(debt.debtor.timezone))
    payment, _, _ = payments.record_payment(
        db_session=db_session,
        payment=PaymentCreate(
            external_id=f"claim:{claim.id}",
            debt_reference=debt.reference,
            amount=to_decimal(amount_minor, debt.currency),
            currency=debt.currency,
            paid_at=paid_at,
            method="claim",
        ),
        now=now,
        recorded_by=f"staff:{staff.id}",
    )
    record_staff_action(
        db_session,
        staff=staff,
        now=now,
        event="payment_claim.confirmed",
        contact=contact,
        debt_id=debt.id,
        data={"claim_id": claim.id, "payment_id": payment.id, "amount_minor": amount_minor},
    )
    db_session.commit()
    return claim


def reject_payment_claim(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    claim: PaymentClaim,
    note: str,
    now: datetime,
) -> PaymentClaim:
    """No such payment was found: reminders resume (an open claim paused them)."""
    debt = db_session.get(Debt, claim.debt_id)
    _own_debt(contact, debt)
    _refuse_resolved_claim(claim)
    note = (note or "").strip()
    if not note:
        raise InvalidRequest("write what was checked", reason_code="note_required")
    claim.status = ClaimStatus.REJECTED
    record_staff_action(
        db_session,
        staff=staff,
        now=now,
        event="payment_claim.rejected",
        contact=contact,
        debt_id=debt.id,
        data={"claim_id": claim.id, "note": note},
    )
    db_session.commit()
    return claim


def _refuse_resolved_claim(claim: PaymentClaim) -> None:
    if claim.status is not ClaimStatus.OPEN:
        raise Conflict(f"the claim is already {claim.status.value}", reason_code="claim_resolved")


# --- identity -----------------------------------------------------------------------------


def lift_verification_lock(
    *,
    db_session: Session,
    staff: StaffMember,
    contact: ChannelContact,
    debtor: Debtor,
    note: str,
    now: datetime,
) -> VerificationStatus:
    """A supervisor who checked the person's identity reopens verification for them.

    Lifts the debtor's lock (as `python -m backend.cli unlock-verification` does) and this
    conversation's own lock, and restarts both counts. The note says how identity was checked.
    """
    require_supervisor(staff, "lift a verification lock")
    note = (note or "").strip()
    if len(note) < MIN_LOCK_NOTE:
        raise InvalidRequest(
            f"say how identity was checked (at least {MIN_LOCK_NOTE} characters)",
            reason_code="note_required",
        )
    if contact.debtor_id is not None and contact.debtor_id != debtor.id:
        raise Conflict("this conversation is with another debtor", reason_code="wrong_debtor")
    record_staff_action(
        db_session,
        staff=staff,
        now=now,
        event="verification.lock_lifted",
        contact=contact,
        debtor_id=debtor.id,
        data={"note": note, "contact_locked_until": _iso(contact.locked_until)},
    )
    contact.locked_until = None
    contact.failed_verifications = 0
    # Commits the audit and the contact's change with the debtor's.
    return verification.lift_lock(
        db_session=db_session,
        debtor_id=debtor.id,
        lift=LockLift(lifted_by=f"staff:{staff.id}", reason=note[:500]),
        now=now,
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _own_debt(contact: ChannelContact, debt: Debt | None) -> None:
    """Staff act on the debts of the debtor the conversation is with, and on no other."""
    if debt is None or contact.debtor_id is None or debt.debtor_id != contact.debtor_id:
        raise Conflict(
            "this debt is not of the debtor in this conversation", reason_code="wrong_debtor"
        )
