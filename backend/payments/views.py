"""Route for the creditor's payment provider to report payments."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from backend.db import SessionDep
from backend.deps import Now
from backend.money import to_decimal
from backend.payments import service as payments
from backend.payments.schemas import PaymentCreate, PaymentRead

router = APIRouter(prefix="/payments", tags=["payments"])


@router.post(
    "",
    response_model=PaymentRead,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "this external id was already recorded"}},
)
def record_payment(
    payment: PaymentCreate, db_session: SessionDep, now: Now, response: Response
) -> PaymentRead:
    created, debt, is_new = payments.record_payment(db_session=db_session, payment=payment, now=now)
    if not is_new:
        response.status_code = status.HTTP_200_OK
    money = lambda minor: to_decimal(minor, created.currency)  # noqa: E731
    return PaymentRead(
        id=created.id,
        external_id=created.external_id,
        debt_reference=debt.reference,
        amount=money(created.amount_minor),
        overpaid=money(created.overpaid_minor),
        currency=created.currency,
        paid_at=created.paid_at,
        debt_outstanding=money(debt.outstanding_minor),
        debt_status=debt.status.value,
    )
