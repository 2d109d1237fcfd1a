"""A reply to a reminder, end to end: the reminder's debt is the one negotiated.

The real stack (web chat API → gateway → Rasa → action server → backend). A debtor with two
open debts is reminded of the less pressing one; the gateway's external event
`/EXTERNAL_reminder{...}` is sent to Rasa's webhook the way the gateway sends it (same sender,
signed contact), then the person types "sim, quero parcelar", verifies, and the plan is set up
for the reminded debt without being asked which one. Needs the trained model.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.contacts.signing import sign_contact
from backend.debtors.models import Debtor
from backend.debts.models import Debt, DebtStatus
from backend.plans.models import PaymentPlan
from locales import translate
from tests.stack import CONTACT_SIGNING_SECRET, seeded_stack

pytestmark = pytest.mark.e2e

ASK_PLAN = (
    "How much could you pay each month, or in how many installments would you like to pay? "
    "You can also offer a single payment to settle the debt."
)
ASK_SUFFIX = (
    "Before we talk about any account, I need to confirm who you are. Please type the last 4 "
    "characters of your document number (CPF, DNI, codice fiscale or SSN)."
)
WHICH_DEBT = "You have {count} open debts with us:\n{debts}\nWhich one is this about?"


def plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace("\u202f", " ")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, trained_model):
    with seeded_stack(tmp_path_factory.mktemp("reminder-e2e"), trained_model) as running:
        yield running


class WebChat:
    def __init__(self, backend_url: str, rasa_url: str, language: str) -> None:
        self.url = f"{backend_url}/chat/api/messages"
        self.rasa_url = rasa_url
        sessions = f"{backend_url}/chat/api/sessions"
        self.session_id = httpx.post(sessions, timeout=30).json()["session_id"]
        self.language = language
        self.buttons: list[dict] = []

    def say(self, text: str) -> str:
        response = httpx.post(
            self.url,
            json={"session_id": self.session_id, "text": text, "language": self.language},
            timeout=180,
        )
        assert response.status_code == 200, response.text
        messages = response.json()["messages"]
        self.buttons = [b for m in messages for b in m.get("buttons") or []]
        return plain("\n".join(m["text"] for m in messages if m.get("text")))

    def reminded(self, reference: str, kind: str) -> list:
        """What the gateway sends Rasa before the reply to a reminder; Rasa's replies."""
        event = "/EXTERNAL_reminder" + json.dumps(
            {"debt_reference": reference, "reminder_kind": kind}
        )
        signature = sign_contact(
            channel="webchat",
            external_id=self.session_id,
            secret=CONTACT_SIGNING_SECRET,
            now=datetime.now(timezone.utc),
            ttl=timedelta(minutes=5),
        )
        response = httpx.post(
            f"{self.rasa_url}/webhooks/gateway/webhook",
            json={
                "sender": f"webchat:{self.session_id}",
                "message": event,
                "metadata": {
                    "channel": "webchat",
                    "external_id": self.session_id,
                    "language": self.language,
                    "contact_signature": signature,
                },
            },
            timeout=180,
        )
        assert response.status_code == 200, response.text
        return response.json()


def second_debt(engine, persona_ref: str) -> tuple[Debtor, Debt, Debt]:
    """Give a seeded persona a second, less overdue open debt; (debtor, first, second)."""
    with Session(engine, expire_on_commit=False) as session:
        debtor = session.scalars(select(Debtor).where(Debtor.external_ref == persona_ref)).one()
        first = debtor.debts[0]
        second = Debt(
            reference=f"{first.reference}-2",
            debtor_id=debtor.id,
            creditor_id=first.creditor_id,
            product="Empréstimo pessoal",
            currency=first.currency,
            principal_minor=100000,
            fees_minor=5000,
            interest_minor=15000,
            outstanding_minor=120000,
            due_date=date.today() - timedelta(days=10),
            status=DebtStatus.OVERDUE,
            late_interest_monthly_pct=Decimal("1.000"),
            late_fee_pct=Decimal("2.000"),
            version=0,
        )
        session.add(second)
        session.commit()
        return debtor, first, second


def test_sim_quero_parcelar_after_a_reminder_negotiates_the_reminded_debt(stack):
    debtor, first, reminded = second_debt(stack.engine, "C-BR-0001")
    rasa_url = f"http://127.0.0.1:{stack.rasa_args[3]}"
    chat = WebChat(stack.backend_url, rasa_url, "pt_BR")

    assert chat.reminded(reminded.reference, "reminder") == []  # the event says nothing

    asked = chat.say("sim, quero parcelar")
    assert plain(translate("pt_BR", ASK_SUFFIX)) in asked
    assert reminded.reference not in asked and "Aurora" not in asked  # not verified yet
    chat.say(debtor.document_number[-4:])
    verified = chat.say(debtor.birth_date.strftime("%d/%m/%Y"))

    assert "Aurora Crédito Financeiro S.A." in verified
    assert reminded.reference in verified
    assert plain(translate("pt_BR", ASK_PLAN)) in verified  # the plan question, not "which debt?"
    which = plain(translate("pt_BR", WHICH_DEBT, count="\0", debts="\0")).split("\0")[-1]
    assert which.strip() not in verified

    offered = chat.say("em 3 parcelas")
    if chat.buttons and chat.buttons[0]["payload"].startswith("/inform"):
        offered = chat.say(chat.buttons[0]["payload"])  # a counter-offer: its first option
    assert chat.buttons and chat.buttons[0]["payload"] == "/affirm", offered
    chat.say("sim")

    with Session(stack.engine) as session:
        plans = session.scalars(
            select(PaymentPlan).where(PaymentPlan.debt_id.in_([first.id, reminded.id]))
        ).all()
        assert [plan.debt_id for plan in plans] == [reminded.id]
