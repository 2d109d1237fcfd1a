"""The backend's JSON as the action server receives it, typed once.

These mirror the backend's response schemas (`backend/*/schemas.py`, `backend/*/views.py`).
Amounts and dates stay strings, as they travel: a Decimal or a date is made only where a
value is computed or formatted (`actions/debt_view.py`). TypedDicts rather than models: the
action server keeps the backend's dicts in slots (`plan_options`), which must stay JSON.
"""

from __future__ import annotations

from typing import TypedDict


class Creditor(TypedDict):
    name: str
    legal_name: str
    legal_id_kind: str
    legal_id: str
    address: str
    country: str
    support_phone: str
    support_email: str
    support_url: str | None


class ScheduledPayment(TypedDict):
    sequence: int
    due_date: str
    amount: str
    is_down_payment: bool
    paid: str | None


class PlanTerms(TypedDict):
    """What a proposal and an agreed plan both say about the money."""

    kind: str  # "installments" or "settlement"
    currency: str
    balance: str
    discount: str
    interest: str
    interest_monthly_pct: str
    interest_annual_pct: str
    down_payment: str
    installment_count: int
    installment_amount: str
    total: str
    first_due_date: str
    last_due_date: str
    schedule: list[ScheduledPayment]


class PlanAsk(TypedDict, total=False):
    installments: int
    monthly_amount: str
    lump_sum: str
    down_payment: str
    start_date: str


class Proposal(PlanTerms):
    """A plan the backend put forward; agreeing it takes its ask, quote id and fingerprint."""

    quote_id: str
    fingerprint: str
    ask: PlanAsk


class Plan(PlanTerms):
    """An agreed plan, as stored."""

    id: int
    debt_reference: str
    status: str
    created_at: str


class Quote(TypedDict):
    outcome: str  # "accepted", "counter_offer" or "refused"
    reason_code: str | None
    message: str | None
    plan: Proposal | None
    counter_offers: list[Proposal]


class Promise(TypedDict):
    id: int
    amount: str
    currency: str
    promised_date: str
    status: str
    created_at: str


class Debt(TypedDict):
    reference: str
    product: str
    creditor: Creditor
    currency: str
    principal: str
    fees: str
    interest: str
    outstanding: str
    due_date: str
    days_overdue: int
    status: str
    payment_url: str | None
    active_plan: Plan | None
    active_promise: Promise | None


class DebtorSummary(TypedDict):
    debtor_id: int
    first_name: str
    full_name: str
    masked_document: str
    country: str
    timezone: str
    preferred_language: str
    today: str
    debts: list[Debt]


class CodeSent(TypedDict):
    """Verification needs one more step: the code e-mailed to the address on file."""

    second_factor: str  # "code_sent"
    destination: str  # masked: a•••@e•••.com
    expires_at: str


class Contact(TypedDict):
    channel: str
    external_id: str
    known_debtor: bool
    verified: bool
    locked: bool
    language: str | None
    opted_out: bool


class Terms(TypedDict):
    reference: str
    product: str
    currency: str
    outstanding: str
    due_date: str
    late_interest_monthly_pct: str
    late_fee_pct: str
    creditor: Creditor
    max_installments: int
    min_installment: str
    min_down_payment_pct: str
    max_settlement_discount_pct: str
    plan_interest_monthly_pct: str
    max_days_to_first_payment: int


class Passage(TypedDict):
    """One passage of a guide: its lead ("heading" empty) or one of its sections.

    `id` is "<language>/<topic>#<n>" in article order; `next_id` is the passage that follows
    in the same guide, None on its last one. `score` is None when fetched by id.
    """

    id: str
    title: str
    heading: str
    topic: str
    language: str
    country: str
    excerpt: str
    score: float | None
    next_id: str | None


class KnowledgeAnswer(TypedDict):
    language: str
    fell_back: bool
    passages: list[Passage]
    generated: str | None
