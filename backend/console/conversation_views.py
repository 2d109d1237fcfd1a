"""A conversation in the console: transcript, debtor panel, reply box and staff actions.

Each action is a plain form post (with the session's CSRF token) that calls one function of
`backend.console.actions` and comes back to the page (303) with a notice; a refusal is the
page again with the reason, under the refusal's status (403, 409, 422…). Supervisor-only
routes refuse agents with 403 before anything is read. `GET /console/conversations?q=` finds
a debtor by reference or name, or a debt by its reference, so that staff can take over any
conversation on their own initiative.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from backend.console import actions
from backend.console.conversation_data import (
    debtor_panel,
    money,
    owner_label,
    transcript,
)
from backend.console.templating import render, templates
from backend.contacts.models import ChannelContact
from backend.db import SessionDep
from backend.debtors.models import Debtor
from backend.debts.models import Debt
from backend.deps import MAX_ROW_ID, Now
from backend.disputes.models import Dispute
from backend.exceptions import DomainError, InvalidRequest, NotFound
from backend.gateway.language import conversation_language
from backend.payments.models import PaymentClaim
from backend.plans.schemas import PlanAsk
from backend.staff.deps import CONSOLE_DEPENDENCIES, StaffDep, SupervisorDep

router = APIRouter(tags=["staff console"], dependencies=CONSOLE_DEPENDENCIES)
templates.env.filters.setdefault("money", money)

SEARCH_LIMIT = 50
Text = Annotated[str, Form()]
OptionalText = Annotated[str, Form()]
ContactIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


# --- pages ----------------------------------------------------------------------------------


@router.get("/conversations", include_in_schema=False)
def search(request: Request, db_session: SessionDep, staff: StaffDep, q: str = "") -> Response:
    """Find a conversation by the debtor's reference or name, or a debt's reference."""
    q = q.strip()[:100]
    if q:
        pattern = f"%{q.lower()}%"
        debtor_ids = select(Debt.debtor_id).where(func.lower(Debt.reference) == q.lower())
        query = (
            select(ChannelContact)
            .join(Debtor, Debtor.id == ChannelContact.debtor_id)
            .where(
                Debtor.erased_at.is_(None),
                or_(
                    func.lower(Debtor.external_ref) == q.lower(),
                    func.lower(Debtor.full_name).like(pattern),
                    Debtor.id.in_(debtor_ids),
                ),
            )
        )
    else:  # the latest conversations
        query = select(ChannelContact).where(ChannelContact.last_inbound_at.is_not(None))
    contacts = list(
        db_session.scalars(
            query.order_by(
                ChannelContact.last_inbound_at.desc().nulls_last(), ChannelContact.id.desc()
            ).limit(SEARCH_LIMIT)
        )
    )
    return render(request, "conversations.html", q=q, contacts=contacts)


def _page(
    request: Request,
    db_session: Session,
    contact: ChannelContact,
    now,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    entries = transcript(db_session, contact)
    handoff, owner = owner_label(db_session, contact)
    panel = debtor_panel(db_session, contact.debtor, now) if contact.debtor else None
    language = conversation_language(contact)
    return render(
        request,
        "conversation.html",
        contact=contact,
        entries=entries,
        last_entry_id=entries[-1].id if entries else 0,
        handoff=handoff,
        owner=owner,
        panel=panel,
        language=language.value if language else None,
        today=now.date(),
        error=error,
        notice=notice,
        status_code=status_code,
    )


def _contact(db_session: Session, contact_id: int) -> ChannelContact:
    contact = db_session.get(ChannelContact, contact_id)
    if contact is None:
        raise NotFound("no such conversation", reason_code="contact_not_found")
    return contact


@router.get("/conversations/{contact_id}", include_in_schema=False)
def conversation(
    contact_id: ContactIdPath,
    request: Request,
    db_session: SessionDep,
    staff: StaffDep,
    now: Now,
    notice: str | None = None,
) -> Response:
    contact = db_session.get(ChannelContact, contact_id)
    if contact is None:
        return render(
            request, "conversations.html", q="", contacts=[], error="No such conversation.",
            status_code=status.HTTP_404_NOT_FOUND,
        )  # fmt: skip
    return _page(request, db_session, contact, now, notice=notice)


def _done(contact_id: int, notice: str) -> RedirectResponse:
    return RedirectResponse(
        f"/console/conversations/{contact_id}?notice={quote(notice)}",
        status.HTTP_303_SEE_OTHER,
    )


def _refused(request, db_session: Session, contact_id: int, now, exc: DomainError) -> Response:
    db_session.rollback()
    contact = _contact(db_session, contact_id)
    return _page(request, db_session, contact, now, error=exc.message, status_code=exc.status_code)


# --- ownership ----------------------------------------------------------------------------


@router.post("/conversations/{contact_id}/take-over", include_in_schema=False)
def take_over(
    contact_id: ContactIdPath, request: Request, db_session: SessionDep, staff: StaffDep, now: Now
) -> Response:
    try:
        contact = _contact(db_session, contact_id)
        actions.take_over(db_session=db_session, staff=staff, contact=contact, now=now)
    except DomainError as exc:
        return _refused(request, db_session, contact_id, now, exc)
    return _done(contact_id, "You have the conversation: the assistant no longer answers.")


@router.post("/conversations/{contact_id}/hand-back", include_in_schema=False)
def hand_back(
    contact_id: ContactIdPath, request: Request, db_session: SessionDep, staff: StaffDep, now: Now
) -> Response:
    try:
        contact = _contact(db_session, contact_id)
        actions.hand_back(db_session=db_session, staff=staff, contact=contact, now=now)
    except DomainError as exc:
        return _refused(request, db_session, contact_id, now, exc)
    return _done(contact_id, "Handed back: the assistant answers the next message.")


@router.post("/conversations/{contact_id}/close", include_in_schema=False)
def close(
    contact_id: ContactIdPath, request: Request, db_session: SessionDep, staff: StaffDep, now: Now
) -> Response:
    try:
        contact = _contact(db_session, contact_id)
        actions.close(db_session=db_session, staff=staff, contact=contact, now=now)
    except DomainError as exc:
        return _refused(request, db_session, contact_id, now, exc)
    return _done(contact_id, "Conversation closed.")


# --- reply ----------------------------------------------------------------------------------


@router.post("/conversations/{contact_id}/reply", include_in_schema=False)
async def reply(
    contact_id: ContactIdPath,
    request: Request,
    db_session: SessionDep,
    staff: StaffDep,
    now: Now,
    text: Text = "",
) -> Response:
    try:
        contact = _contact(db_session, contact_id)
        await actions.reply(
            db_session=db_session,
            staff=staff,
            contact=contact,
            text=text,
            adapters=request.app.state.gateway.adapters,
            now=now,
        )
    except DomainError as exc:
        return _refused(request, db_session, contact_id, now, exc)
    return _done(contact_id, "Sent.")


# --- plans and promises -------------------------------------------------------------------


def _debt_of(db_session: Session, contact: ChannelContact, reference: str) -> Debt:
    debt = db_session.scalars(select(Debt).where(Debt.reference == reference)).one_or_none()
    if debt is None or debt.debtor_id != contact.debtor_id:
        raise NotFound("no such debt for this debtor", reason_code="debt_not_found")
    return debt


def _amount(value: str, what: str) -> Decimal | None:
    value = (value or "").strip().replace(",", ".")
    if not value:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise InvalidRequest(f"{what}: {value!r} is not an amount") from exc
    if amount < 0:
        raise InvalidRequest(f"{what} cannot be negative")
    return amount


def _day(value: str, what: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from exc


def _ask(kind: str, installments: str, lump_sum: str, down_payment: str, start: str) -> PlanAsk:
    start_date = _day(start, "first payment")
    if kind == "settlement":
        amount = _amount(lump_sum, "lump sum")
        if not amount:
            raise InvalidRequest("give the amount of the lump sum")
        return PlanAsk(lump_sum=amount, start_date=start_date)
    if not installments.strip().isdigit() or not 1 <= int(installments) <= 360:
        raise InvalidRequest("give the number of installments (1 to 360)")
    return PlanAsk(
        installments=int(installments),
        down_payment=_amount(down_payment, "down payment"),
        start_date=start_date,
    )


@router.post("/conversations/{contact_id}/plans", include_in_schema=False)
def create_plan(
    contact_id: ContactIdPath,
    request: Request,
    db_session: SessionDep,
    staff: StaffDep,
    now: Now,
    debt_reference: Text,
    kind: Text = "installments",
    installments: OptionalText = "",
    lump_sum: OptionalText = "",
    down_payment: OptionalText = "",
    start_date: OptionalText = "",
    exception_reason: OptionalText = "",
) -> Response:
    try:
        contact = _contact(db_session, contact_id)
        debt = _debt_of(db_session, contact, debt_reference)
        plan = actions.create_plan(
            db_session=db_session,
            staff=staff,
            contact=contact,
            debt=debt,
            ask=_ask(kind, installments, lump_sum, down_payment, start_date),
            exception_reason=exception_reason or None,
            now=now,
        )
    except DomainError as exc:
        return _refused(request, db_session, contact_id, now, exc)
    except ValueError as exc:  # the ask's own validation
        return _refused(request, db_session, contact_id, now, InvalidRequest(str(exc)))
    total = money(plan.total_minor, plan.currency)
    return _done(contact_id, f"Plan agreed: {len(plan.installments)} payment(s), {total} in all.")


@router.post("/conversations/{contact_id}/promises", include_in_schema=False)
def record_promise(
    contact_id: ContactIdPath,
    request: Request,
    db_session: SessionDep,
    staff: StaffDep,
    now: Now,
    debt_reference: Text,
    amount: Text,
    promised_date: Text,
) -> Response:
    try:
        contact = _contact(db_session, contact_id)
        debt = _debt_of(db_session, contact, debt_reference)
        value = _amount(amount, "amount")
        day = _day(promised_date, "promised date")
        if not value or day is None:
            raise InvalidRequest("give the amount and the date promised")
        actions.record_promise(
            db_session=db_session,
            staff=staff,
            contact=contact,
            debt=debt,
            amount=value,
            promised_date=day,
            now=now,
        )
    except DomainError as exc:
        return _refused(request, db_session, contact_id, now, exc)
    return _done(contact_id, "Promise recorded.")


# --- disputes and claims ------------------------------------------------------------------


def _of_contact(db_session: Session, contact: ChannelContact, model, row_id: int):
    row = db_session.get(model, row_id)
    debt = db_session.get(Debt, row.debt_id) if row is not None else None
    if debt is None or debt.debtor_id != contact.debtor_id:
        raise NotFound("not found for this debtor", reason_code="not_found")
    return row


@router.post("/conversations/{contact_id}/disputes/{dispute_id}/resolve", include_in_schema=False)
async def resolve_dispute(
    contact_id: ContactIdPath,
    dispute_id: int,
    request: Request,
    db_session: SessionDep,
    staff: StaffDep,
    now: Now,
    outcome: Text,
    note: OptionalText = "",
    corrected_amount: OptionalText = "",
) -> Response:
    try:
        contact = _contact(db_session, contact_id)
        dispute = _of_contact(db_session, contact, Dispute, dispute_id)
        await actions.resolve_dispute(
            db_session=db_session,
            staff=staff,
            contact=contact,
            dispute=dispute,
            outcome=outcome,
            note=note,
            corrected_amount=_amount(corrected_amount, "corrected amount"),
            adapters=request.app.state.gateway.adapters,
            now=now,
        )
    except DomainError as exc:
        return _refused(request, db_session, contact_id, now, exc)
    return _done(contact_id, f"Dispute {outcome}.")


@router.post("/conversations/{contact_id}/claims/{claim_id}/confirm", include_in_schema=False)
def confirm_claim(
    contact_id: ContactIdPath,
    claim_id: int,
    request: Request,
    db_session: SessionDep,
    staff: StaffDep,
    now: Now,
    amount: OptionalText = "",
) -> Response:
    try:
        contact = _contact(db_session, contact_id)
        claim = _of_contact(db_session, contact, PaymentClaim, claim_id)
        actions.confirm_payment_claim(
            db_session=db_session,
            staff=staff,
            contact=contact,
            claim=claim,
            amount=_amount(amount, "amount"),
            now=now,
        )
    except DomainError as exc:
        return _refused(request, db_session, contact_id, now, exc)
    return _done(contact_id, "Payment confirmed and applied.")


@router.post("/conversations/{contact_id}/claims/{claim_id}/reject", include_in_schema=False)
def reject_claim(
    contact_id: ContactIdPath,
    claim_id: int,
    request: Request,
    db_session: SessionDep,
    staff: StaffDep,
    now: Now,
    note: OptionalText = "",
) -> Response:
    try:
        contact = _contact(db_session, contact_id)
        claim = _of_contact(db_session, contact, PaymentClaim, claim_id)
        actions.reject_payment_claim(
            db_session=db_session, staff=staff, contact=contact, claim=claim, note=note, now=now
        )
    except DomainError as exc:
        return _refused(request, db_session, contact_id, now, exc)
    return _done(contact_id, "Claim rejected: reminders resume.")


# --- identity (supervisors) ---------------------------------------------------------------


@router.post("/conversations/{contact_id}/unlock", include_in_schema=False)
def lift_verification_lock(
    contact_id: ContactIdPath,
    request: Request,
    db_session: SessionDep,
    supervisor: SupervisorDep,
    now: Now,
    note: OptionalText = "",
) -> Response:
    try:
        contact = _contact(db_session, contact_id)
        if contact.debtor is None:
            raise InvalidRequest("this conversation is not bound to a debtor yet")
        actions.lift_verification_lock(
            db_session=db_session,
            staff=supervisor,
            contact=contact,
            debtor=contact.debtor,
            note=note,
            now=now,
        )
    except DomainError as exc:
        return _refused(request, db_session, contact_id, now, exc)
    return _done(contact_id, "Verification lock lifted.")
