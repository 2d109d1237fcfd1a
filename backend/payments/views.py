"""The payment provider's webhook: it reports payments, signed with its own secret.

Not behind the service token: the action server's token must never be able to record a
payment. The signature is checked on the raw body before the body is parsed
(`backend/payments/webhook.py`).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from backend.db import SessionDep
from backend.deps import Now, SettingsDep
from backend.money import to_decimal
from backend.payments import service as payments
from backend.payments import webhook
from backend.payments.schemas import PaymentCreate, PaymentRead

router = APIRouter(prefix="/payments", tags=["payments"])


async def signed_payment(request: Request, settings: SettingsDep) -> PaymentCreate:
    """The reported payment, once its signature and timestamp are verified."""
    body = await request.body()
    webhook.verify(
        secret=settings.payments_webhook_secret,
        body=body,
        timestamp=request.headers.get(webhook.TIMESTAMP_HEADER),
        signature=request.headers.get(webhook.SIGNATURE_HEADER),
        # The real clock, not the business clock: freshness is a property of the transport.
        now=time.time(),
    )
    try:
        return PaymentCreate.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from exc


SignedPayment = Annotated[PaymentCreate, Depends(signed_payment)]


@router.post(
    "",
    response_model=PaymentRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "this external id was already recorded"},
        401: {"description": "unsigned, wrongly signed or older than 5 minutes"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PaymentCreate.model_json_schema()}},
        }
    },
)
def record_payment(
    payment: SignedPayment, db_session: SessionDep, now: Now, response: Response
) -> PaymentRead:
    created, debt, is_new = payments.record_payment(
        db_session=db_session, payment=payment, now=now, recorded_by=payments.PAYMENT_PROVIDER
    )
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
