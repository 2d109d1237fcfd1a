"""Every table, imported in one place so that mappers and migrations see the whole schema."""

from backend.campaigns.models import CadencePolicy, CadenceStep, ContactRule
from backend.contacts.models import ChannelContact
from backend.creditors.models import Creditor
from backend.db import Base
from backend.debtors.models import Debtor
from backend.debts.models import Debt, DebtStatus
from backend.disputes.models import Dispute
from backend.feedback.models import CsatScore
from backend.gateway.channels.models import InboundUpdate, UsedLinkToken
from backend.gateway.models import DeliveryAttempt, OutboxMessage
from backend.handoffs.models import Handoff
from backend.interactions.models import Interaction
from backend.ledger.models import LedgerEntry
from backend.negotiation.models import NegotiationPolicy
from backend.payments.models import Payment, PaymentClaim
from backend.plans.models import Installment, PaymentPlan
from backend.privacy.models import DebtorKey
from backend.promises.models import PromiseToPay
from backend.segments.models import SegmentChange
from backend.staff.models import StaffMember, StaffSession
from backend.verification.models import VerificationCode, VerificationFailure

__all__ = [
    "Base",
    "CadencePolicy",
    "CadenceStep",
    "ContactRule",
    "DeliveryAttempt",
    "Handoff",
    "LedgerEntry",
    "OutboxMessage",
    "SegmentChange",
    "StaffMember",
    "StaffSession",
    "ChannelContact",
    "Creditor",
    "CsatScore",
    "Debt",
    "DebtStatus",
    "Debtor",
    "DebtorKey",
    "Dispute",
    "InboundUpdate",
    "Installment",
    "Interaction",
    "NegotiationPolicy",
    "Payment",
    "PaymentClaim",
    "PaymentPlan",
    "PromiseToPay",
    "UsedLinkToken",
    "VerificationCode",
    "VerificationFailure",
]
