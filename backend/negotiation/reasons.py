"""Readable explanations of reason codes, for API clients and staff.

Debtors see the localized texts that the action server renders from the code instead.
"""

from backend.negotiation.engine import ReasonCode

REASON_MESSAGES: dict[ReasonCode, str] = {
    ReasonCode.TOO_MANY_INSTALLMENTS: "more installments than the policy allows",
    ReasonCode.INSTALLMENT_BELOW_MINIMUM: "installments would be below the policy minimum",
    ReasonCode.PLAN_TOO_LONG: "the plan would last longer than the policy allows",
    ReasonCode.DOWN_PAYMENT_TOO_LOW: "the down payment is below the policy minimum",
    ReasonCode.DOWN_PAYMENT_EXCEEDS_BALANCE: "the down payment is more than the balance",
    ReasonCode.FIRST_PAYMENT_TOO_LATE: "the first payment would be later than the policy allows",
    ReasonCode.START_DATE_IN_PAST: "the start date is in the past",
    ReasonCode.SETTLEMENT_DISCOUNT_TOO_HIGH: "the offer implies a larger discount than allowed",
    ReasonCode.DEBT_DISPUTED: "the debt is disputed: collection is paused",
    ReasonCode.DEBT_PAID: "the debt is paid",
    ReasonCode.DEBT_WRITTEN_OFF: "the debt was written off",
    ReasonCode.PLAN_ALREADY_ACTIVE: "the debt already has an active plan",
    ReasonCode.TOO_MANY_BROKEN_PROMISES: "too many broken promises: a member of staff must help",
    ReasonCode.NOTHING_TO_PAY: "there is nothing left to pay",
    ReasonCode.SCHEDULE_INCONSISTENT: "the schedule does not add up",
    ReasonCode.INTEREST_MISMATCH: "the interest does not follow the policy",
}

# Refusals caused by the debt's state rather than by what was asked: HTTP 409, not 422.
STATE_REASONS = frozenset(
    {
        ReasonCode.DEBT_DISPUTED,
        ReasonCode.DEBT_PAID,
        ReasonCode.DEBT_WRITTEN_OFF,
        ReasonCode.PLAN_ALREADY_ACTIVE,
        ReasonCode.NOTHING_TO_PAY,
    }
)
