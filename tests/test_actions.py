"""The action server, run for real, against the real backend on a test database.

The action server (Rasa environment) is started as a subprocess and called on its webhook
exactly as Rasa calls it, with a tracker and the bot's domain.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import unicodedata
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.contacts.signing import sign_contact
from backend.creditors.models import Creditor
from backend.enums import VerificationMode
from backend.interactions.models import Interaction
from backend.migrate import upgrade_to_head
from backend.outbound.dev_mailbox import DevMailbox
from backend.plans.models import PaymentPlan
from backend.promises.models import PromiseToPay
from locales import translate
from tests import factories
from tests.stack import (
    CONTACT_SIGNING_SECRET,
    REPO,
    free_port,
    start_action_server,
    start_backend,
)

DOMAIN = yaml.safe_load((REPO / "bot" / "domain.yml").read_text())
_senders = itertools.count(1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stack")
    url = f"sqlite:///{folder / 'actions.sqlite3'}"
    upgrade_to_head(url)
    mailbox = DevMailbox(port=free_port()).start()  # where one-time codes are e-mailed
    backend, backend_url = start_backend(
        url,
        folder,
        ACORDO_SMTP_HOST=mailbox.host,
        ACORDO_SMTP_PORT=str(mailbox.port),
        ACORDO_SMTP_SECURITY="none",
        ACORDO_SMTP_FROM="Aurora <no-reply@aurora.example>",
    )
    actions, actions_url = start_action_server(backend_url, folder)
    # A second action server whose backend is down (nothing listens on port 9).
    orphan, orphan_url = start_action_server("http://127.0.0.1:9", folder, name="orphan")
    engine = create_engine(url)
    yield {"db": engine, "actions": actions_url, "orphan": orphan_url, "mailbox": mailbox}
    for service in (orphan, actions, backend):
        service.stop()
    mailbox.stop()
    engine.dispose()


@pytest.fixture
def db(stack):
    with Session(stack["db"], expire_on_commit=False) as session:
        yield session


def plain(text: str) -> str:
    """Babel separates currency and digits with no-break spaces; compare with plain ones."""
    return unicodedata.normalize("NFKC", text).replace("\u202f", " ")


class Conversation:
    """One sender talking to the action server; slots persist between calls like in Rasa."""

    def __init__(self, actions_url: str, language: str = "pt_BR") -> None:
        self.url = f"{actions_url}/webhook"
        self.sender = f"webchat:actions-test-{next(_senders)}"
        self.language = language
        self.slots: dict = {"verified": False, "locked": False, "fallback_count": 0}
        self.active_loop: str | None = None
        self.signed = True  # as every turn through the gateway is

    def run(
        self,
        action: str,
        *,
        text: str = "",
        intent: str = "inform",
        entities: list | None = None,
        set_slots: dict | None = None,
    ) -> list[str]:
        """Run `action` after a user message; return the bot's texts (plain spaces)."""
        events = [
            {
                "event": "user",
                "text": text,
                "parse_data": {
                    "intent": {"name": intent, "confidence": 1.0},
                    "entities": entities or [],
                    "text": text,
                },
            }
        ]
        for name, value in (set_slots or {}).items():
            self.slots[name] = value
            events.append({"event": "slot", "name": name, "value": value})
        tracker = {
            "sender_id": self.sender,
            "slots": self.slots,
            "latest_message": {
                "text": text,
                "intent": {"name": intent, "confidence": 1.0},
                "entities": entities or [],
                "metadata": {
                    "language": self.language,
                    "contact_signature": self.signature() if self.signed else None,
                },
            },
            "events": events,
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": self.active_loop} if self.active_loop else {},
            "latest_action_name": "action_listen",
        }
        response = httpx.post(
            self.url,
            json={
                "next_action": action,
                "sender_id": self.sender,
                "tracker": tracker,
                "domain": DOMAIN,
                "version": "3.6.2",
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        for event in body["events"]:
            if event["event"] == "slot":
                self.slots[event["name"]] = event["value"]
        self.buttons = [b for r in body["responses"] for b in r.get("buttons") or []]
        return [plain(r["text"]) for r in body["responses"] if r.get("text")]

    def signature(self) -> str:
        """What the gateway signs into each turn for the action server to show the backend."""
        channel, _, external_id = self.sender.partition(":")
        return sign_contact(
            channel=channel,
            external_id=external_id,
            secret=CONTACT_SIGNING_SECRET,
            now=datetime.now(timezone.utc),
            ttl=timedelta(minutes=5),
        )

    def verify(self, debtor) -> list[str]:
        self.active_loop = "verification_form"
        self.run(
            "validate_verification_form",
            text=debtor.document_number[-4:],
            set_slots={"document_suffix": debtor.document_number[-4:]},
        )
        said = self.run(
            "validate_verification_form", text="14/03/1988", set_slots={"birth_date": "14/03/1988"}
        )
        self.active_loop = None
        return said


def test_verification_names_the_creditor_and_the_debt(stack, db):
    debtor, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"])

    said = chat.verify(debtor)

    assert chat.slots["verified"] is True
    assert chat.slots["debt_reference"] == debt.reference
    assert "Aurora Crédito Financeiro S.A." in said[0]
    assert debt.reference in said[0]


def test_wrong_details_are_refused_with_the_attempts_left(stack, db):
    debtor, _ = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")
    chat.active_loop = "verification_form"
    chat.run("validate_verification_form", text="0000", set_slots={"document_suffix": "0000"})

    said = chat.run(
        "validate_verification_form", text="01/02/1990", set_slots={"birth_date": "01/02/1990"}
    )

    assert chat.slots["verified"] is False
    assert chat.slots["document_suffix"] is None and chat.slots["birth_date"] is None
    assert "2 attempts left" in said[0]


@pytest.mark.parametrize(
    ("language", "currency", "amount"),
    [
        ("pt_BR", "BRL", "R$ 2.450,90"),
        ("it", "EUR", "2.450,90 €"),
        ("en", "USD", "$2,450.90"),
        ("en", "EUR", "€2,450.90"),
    ],
)
def test_balance_is_formatted_for_the_debtors_locale(stack, db, language, currency, amount):
    debtor, _ = factories.debtor_with_debt(db, currency=currency)
    chat = Conversation(stack["actions"], language=language)
    chat.verify(debtor)

    said = chat.run("action_answer_balance", text="?", intent="ask_balance")

    assert amount in said[0]


def test_a_plan_above_the_policy_ends_in_a_compliant_plan(stack, db):
    debtor, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")
    chat.verify(debtor)
    chat.active_loop = "payment_plan_form"

    said = chat.run(
        "validate_payment_plan_form",
        text="24 installments",
        entities=[{"entity": "installments", "value": "24"}],
        set_slots={"plan_ask": "24 installments"},
    )
    assert "more installments than I can offer" in said[0]
    options = chat.slots["plan_options"]
    assert options[0]["proposal"]["installment_count"] == 12

    listed = chat.run("action_ask_plan_choice", text="24 installments")
    assert "12 monthly installments of R$" in listed[0]
    assert chat.buttons[0]["payload"] == '/inform{"plan_option":"1"}'

    chat.run(
        "validate_payment_plan_form",
        text='/inform{"plan_option":"1"}',
        set_slots={"plan_choice": "1"},
    )
    summary = chat.run("action_ask_plan_confirmed", text="0")
    assert "Shall I set up this plan?" in summary[0]
    confirmed = options[int(chat.slots["plan_choice"])]["proposal"]
    chat.active_loop = None
    done = chat.run(
        "action_create_plan", text="yes", intent="affirm", set_slots={"plan_confirmed": True}
    )

    assert done[0].startswith("Done! Your plan is set up")
    plan = db.scalars(select(PaymentPlan).where(PaymentPlan.debt_id == debt.id)).one()
    assert plan.installment_count == 12 and plan.status.value == "active"
    # Exactly the plan the person confirmed: every date and amount of its schedule.
    stored = [
        (i.due_date.isoformat(), Decimal(i.amount_minor) / 100, i.is_down_payment)
        for i in sorted(plan.installments, key=lambda i: i.sequence)
    ]
    assert stored == [
        (p["due_date"], Decimal(p["amount"]), p["is_down_payment"]) for p in confirmed["schedule"]
    ]
    assert chat.slots["resolved"] is True and chat.slots["plan_options"] is None


def test_the_cost_is_stated_before_agreeing_and_a_stale_quote_is_never_agreed(stack, db):
    debtor, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"])
    chat.verify(debtor)
    chat.active_loop = "payment_plan_form"
    chat.run(
        "validate_payment_plan_form",
        text="6 parcelas",
        entities=[{"entity": "installments", "value": "6"}],
        set_slots={"plan_ask": "6 parcelas"},
    )

    summary = chat.run("action_ask_plan_confirmed", text="6 parcelas")

    assert "6 parcelas mensais de R$ 393,66 (a última de R$ 393,67)" in summary[0]
    assert (
        "Juros de 1,99% ao mês (26,68% ao ano, taxa efetiva), R$ 156,16 no total; "
        "total a pagar: R$ 2.607,06." in summary[0]
    )
    # A payment arrives before the person says yes: the quoted numbers no longer hold.
    debt.outstanding_minor -= 45090
    db.commit()
    chat.active_loop = None
    said = chat.run(
        "action_create_plan", text="sim", intent="affirm", set_slots={"plan_confirmed": True}
    )

    assert said[0].startswith("Desculpe: os valores mudaram")
    # The same ask (R$ 245,09 down, 6 installments) on the new balance of R$ 2.000,00.
    assert "- uma entrada de R$ 245,09" in said[0] and "6 parcelas mensais de R$ 313,19" in said[0]
    assert "total a pagar: R$ 2.124,24." in said[0]
    assert chat.buttons[0]["payload"] == "/request_payment_plan"
    assert db.scalars(select(PaymentPlan).where(PaymentPlan.debt_id == debt.id)).all() == []
    assert chat.slots["plan_options"] is None


def test_a_promise_with_a_relative_date_is_recorded(stack, db):
    debtor, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")
    chat.verify(debtor)
    chat.active_loop = "promise_form"
    chat.run("validate_promise_form", text="R$ 300", set_slots={"promise_amount": "R$ 300"})
    chat.run("validate_promise_form", text="tomorrow", set_slots={"promise_date": "tomorrow"})
    asked = chat.run("action_ask_promise_confirmed", text="tomorrow")
    tomorrow = date.fromisoformat(chat.slots["promise_date"])
    assert "R$300.00" in asked[0] and tomorrow.strftime("%A") in asked[0]
    assert [b["payload"] for b in chat.buttons] == ["/affirm", "/deny"]
    chat.active_loop = None
    unconfirmed = chat.run("action_record_promise", text="hmm")
    assert not unconfirmed
    assert db.scalars(select(PromiseToPay).where(PromiseToPay.debt_id == debt.id)).all() == []
    chat.run("validate_promise_form", text="R$ 300", set_slots={"promise_amount": "R$ 300"})
    chat.run("validate_promise_form", text="tomorrow", set_slots={"promise_date": "tomorrow"})

    said = chat.run(
        "action_record_promise", text="yes", intent="affirm", set_slots={"promise_confirmed": True}
    )

    promise = db.scalars(select(PromiseToPay).where(PromiseToPay.debt_id == debt.id)).one()
    assert promise.amount_minor == 30000
    assert promise.promised_date > date.today() - timedelta(days=1)
    assert "R$ 300,00" in said[0] or "R$300.00" in said[0]


def test_opt_out_is_recorded_and_confirmed(stack, db):
    chat = Conversation(stack["actions"], language="es")

    said = chat.run("action_opt_out", text="STOP", intent="opt_out")

    contact = db.scalars(
        select(ChannelContact).where(ChannelContact.external_id == chat.sender.split(":", 1)[1])
    ).one()
    assert contact.opted_out_at is not None
    assert said and said[0] != ""


def test_asking_for_a_person_is_escalated(stack, db):
    chat = Conversation(stack["actions"])

    chat.run("action_request_human", text="quero falar com uma pessoa", intent="request_human")

    events = db.scalars(
        select(Interaction.event).where(Interaction.event == "escalation.requested")
    ).all()
    assert events


@pytest.mark.parametrize("language", ["pt_BR", "es", "it", "en"])
def test_backend_down_gives_a_localized_apology_and_a_person(stack, language):
    chat = Conversation(stack["orphan"], language=language)
    chat.slots["verified"] = True

    said = chat.run("action_answer_balance", text="?", intent="ask_balance")

    assert len(said) == 1
    assert chat.buttons[0]["payload"] == "/request_human"
    english = "Sorry, something went wrong on our side"
    assert (english in said[0]) == (language == "en")


def test_terms_state_rates_and_the_creditors_legal_identity(stack, db):
    debtor, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="es")
    chat.verify(debtor)

    said = chat.run("action_answer_terms", text="¿qué intereses cobráis?", intent="ask_terms")

    assert "1 %" in said[0] and "2 %" in said[0]  # Spanish writes a space before %
    assert "Aurora Crédito Financeiro S.A., CNPJ 11.222.333/" in said[0]
    assert debt.reference in said[0]


def test_the_fallback_asks_to_rephrase_then_hands_over(stack, db):
    chat = Conversation(stack["actions"], language="it")

    first = chat.run("action_fallback", text="blorp", intent="nlu_fallback")
    second = chat.run("action_fallback", text="blorp blorp", intent="nlu_fallback")

    assert first and second and first != second
    assert chat.slots["fallback_count"] == 0.0
    escalations = db.scalars(
        select(Interaction).where(Interaction.event == "escalation.requested")
    ).all()
    assert any(e.data == {"reason": "not_understood"} for e in escalations)


@pytest.mark.parametrize(
    ("action", "intent", "language", "text", "topic"),
    [
        ("action_fallback", "nlu_fallback", "es",
         "me llaman de recobro a las 11 de la noche, pueden hacer eso?", "debtors-rights"),
        ("action_out_of_scope", "out_of_scope", "it",
         "se pago con 2 mesi di ritardo quanto mi costano gli interessi di mora?",
         "late-fees-and-arrears"),
    ],
)  # fmt: skip
def test_a_question_the_bot_did_not_understand_is_answered_from_a_guide(
    stack, action, intent, language, text, topic
):
    chat = Conversation(stack["actions"], language=language)

    said = chat.run(action, text=text, intent=intent)

    assert len(said) == 1 and guide_title(language, topic) in said[0]
    assert chat.slots["education_next_passage"].startswith(f"{language}/{topic}#")
    assert more_from(chat.buttons) == chat.slots["education_next_passage"]


def test_off_topic_messages_still_get_the_fallback_and_out_of_scope_answers(stack):
    chat = Conversation(stack["actions"], language="pt_BR")

    weather = "qual a previsao do tempo amanha em recife"
    recipe = "me passa uma receita de bolo de cenoura"

    fallback = chat.run("action_fallback", text=weather, intent="nlu_fallback")
    out_of_scope = chat.run("action_out_of_scope", text=recipe, intent="out_of_scope")

    rephrase = "Sorry, I didn't understand. Could you say it another way?"
    assert fallback == [translate("pt_BR", rephrase)]
    assert "guia" not in out_of_scope[0] and [b["payload"] for b in chat.buttons] == MENU


def test_general_questions_are_answered_from_the_guides_with_their_title(stack):
    chat = Conversation(stack["actions"], language="pt_BR")

    said = chat.run(
        "action_education", text="como eu faço um orçamento mensal?", intent="ask_education"
    )

    assert said[0].startswith("Do nosso guia “")
    assert "orçamento" in said[0].lower()


MENU = ["/ask_balance", "/request_payment_plan", "/request_human"]
NO_MORE = "That's all I have on that for now."


def more_from(buttons: list[dict]) -> str | None:
    """The passage the "Tell me more" button asks for; None when there is no such button."""
    for button in buttons:
        intent, brace, entities = button["payload"].partition("{")
        if intent == "/education_more":
            return json.loads(brace + entities)["knowledge_passage"]
    return None


def press_more(chat: Conversation, passage_id: str) -> list[str]:
    """Press "Tell me more": its payload, as Rasa parses it, with the passage as the entity."""
    return chat.run(
        "action_education_more",
        text=f'/education_more{{"knowledge_passage":"{passage_id}"}}',
        intent="education_more",
        entities=[{"entity": "knowledge_passage", "value": passage_id}],
    )


def guide_title(language: str, topic: str) -> str:
    article = (REPO / "knowledge" / "articles" / language / f"{topic}.md").read_text()
    return re.search(r"^title: (.+)$", article, re.M).group(1).strip().strip("\"'")


def test_an_answer_offers_the_guides_next_passage_before_the_menu(stack):
    chat = Conversation(stack["actions"], language="en")

    said = chat.run("action_education", text="what is an emergency fund?", intent="ask_education")

    assert said[0].startswith("From our guide “")
    next_id = chat.slots["education_next_passage"]
    assert next_id is not None and re.fullmatch(r"en/[\w-]+#\d+", next_id)
    assert more_from(chat.buttons) == next_id
    assert chat.buttons[0]["title"] == "Tell me more"
    assert [b["payload"] for b in chat.buttons[1:]] == MENU


def test_tell_me_more_quotes_a_guide_passage_by_passage_to_its_end(stack):
    chat = Conversation(stack["actions"], language="en")
    title = guide_title("en", "budgeting")
    passage_id, quoted, ids = "en/budgeting#0", [], []

    while passage_id is not None and len(ids) < 30:
        said = press_more(chat, passage_id)
        assert len(said) == 1 and said[0].startswith(f"From our guide “{title}”")
        quoted.append(said[0])
        ids.append(passage_id)
        passage_id = more_from(chat.buttons)
        assert chat.slots["education_next_passage"] == passage_id
        assert [b["payload"] for b in chat.buttons][-3:] == MENU

    # Every passage once, in the article's order, the sections named by their headings.
    assert [int(i.rpartition("#")[2]) for i in ids] == list(range(len(ids)))
    assert len(ids) >= 4 and len(set(quoted)) == len(quoted)
    assert ", section “Step 1: Know what comes in”: " in quoted[1]
    assert ", section “" not in quoted[0]  # the lead paragraphs have no heading
    # At the end, typing "tell me more" says so kindly and offers the menu.
    said = chat.run("action_education_more", text="tell me more", intent="education_more")
    assert said[0].startswith(NO_MORE) and [b["payload"] for b in chat.buttons] == MENU


def test_typed_tell_me_more_goes_on_from_the_last_answer(stack):
    chat = Conversation(stack["actions"], language="en")
    chat.run("action_education", text="what is an emergency fund?", intent="ask_education")
    guide, _, number = chat.slots["education_next_passage"].partition("#")

    said = chat.run("action_education_more", text="tell me more pls", intent="education_more")

    assert said[0].startswith("From our guide “")
    # That passage was quoted, and the slot moved on to the one after it (or the guide ended).
    assert chat.slots["education_next_passage"] in (f"{guide}#{int(number) + 1}", None)
    # The button names the passage it asks for, whatever the slot says.
    said = press_more(chat, "en/emergency-fund#0")
    assert said[0].startswith(f"From our guide “{guide_title('en', 'emergency-fund')}”")
    assert chat.slots["education_next_passage"] == "en/emergency-fund#1"


@pytest.mark.parametrize(
    ("language", "text"),
    [("pt_BR", "me conta mais"), ("es", "cuentame mas"), ("it", "dimmi di piu"), ("en", "more")],
)
def test_tell_me_more_without_a_guide_says_so_and_offers_the_menu(stack, language, text):
    chat = Conversation(stack["actions"], language=language)

    said = chat.run("action_education_more", text=text, intent="education_more")

    assert len(said) == 1 and [b["payload"] for b in chat.buttons] == MENU
    assert (NO_MORE in said[0]) == (language == "en")  # said in the conversation's language
    assert chat.slots["education_next_passage"] is None


def test_an_unknown_passage_is_no_more_to_tell(stack):
    chat = Conversation(stack["actions"], language="en")

    said = press_more(chat, "en/no-such-guide#3")

    assert said[0].startswith(NO_MORE) and [b["payload"] for b in chat.buttons] == MENU
    assert chat.slots["education_next_passage"] is None


def test_a_passage_in_another_language_is_still_quoted(stack):
    # An English guide given as a fallback goes on in English: it is what was asked for.
    chat = Conversation(stack["actions"], language="pt_BR")

    said = press_more(chat, "en/budgeting#1")

    assert f"“{guide_title('en', 'budgeting')}”" in said[0]
    assert "take-home pay" in said[0]
    assert chat.slots["education_next_passage"] == "en/budgeting#2"


def test_tell_me_more_with_the_backend_down_apologises_and_offers_a_person(stack):
    chat = Conversation(stack["orphan"], language="en")

    said = press_more(chat, "en/budgeting#1")

    assert "Sorry, something went wrong on our side" in said[0]
    assert [b["payload"] for b in chat.buttons] == ["/request_human"]


def test_a_backend_failure_while_verifying_asks_again_and_never_locks(stack, db):
    debtor, _ = factories.debtor_with_debt(db)
    down = Conversation(stack["orphan"], language="en")
    down.active_loop = "verification_form"
    down.run("validate_verification_form", text="8909", set_slots={"document_suffix": "8909"})

    said = down.run(
        "validate_verification_form", text="03/14/1988", set_slots={"birth_date": "03/14/1988"}
    )

    assert "Sorry, something went wrong on our side" in said[0]
    assert down.slots["locked"] is False and down.slots["verified"] is False
    # Only the birth date is forgotten, so the form asks it again and answering retries.
    assert down.slots["birth_date"] is None and down.slots["document_suffix"] == "8909"


def test_a_question_is_never_stored_as_the_document_suffix(stack, db):
    chat = Conversation(stack["actions"], language="en")
    chat.active_loop = "verification_form"
    question = "how do I know this is really you?"

    said = chat.run(
        "validate_verification_form", text=question, set_slots={"document_suffix": question}
    )

    assert chat.slots["document_suffix"] is None
    assert "last 4 characters" in said[0]


def test_a_date_read_as_a_question_inside_the_form_is_still_the_answer(stack, db):
    chat = Conversation(stack["actions"], language="pt_BR")
    chat.active_loop = "verification_form"
    chat.slots["requested_slot"] = "birth_date"

    said = chat.run("action_answer_in_form", text="14/03/1988", intent="ask_due_date")

    assert said == []
    assert chat.slots["birth_date"] == "14/03/1988"


@pytest.mark.parametrize("language", ["pt_BR", "es", "it", "en"])
def test_a_worry_gets_a_calm_answer_and_a_person_before_verification(stack, language):
    chat = Conversation(stack["actions"], language=language)

    said = chat.run("action_answer_worry", text="is this a scam?", intent="ask_is_scam")

    assert len(said) == 2
    assert "Aurora Crédito" in said[0]
    assert chat.buttons[-1]["payload"] == "/request_human"


def test_several_open_debts_are_listed_and_the_person_chooses(stack, db):
    debtor, first = factories.debtor_with_debt(db)
    second = factories.debt(db, debtor, product="Empréstimo pessoal", outstanding_minor=120000)
    db.commit()
    chat = Conversation(stack["actions"], language="pt_BR")

    introduced = chat.verify(debtor)
    assert chat.slots["verified"] is True and chat.slots["debt_reference"] is None
    assert first.reference in introduced[1] and second.reference in introduced[1]

    balances = chat.run("action_answer_balance", text="quanto devo?", intent="ask_balance")
    assert "R$ 2.450,90" in balances[0] and "R$ 1.200,00" in balances[0]

    asked = chat.run("action_answer_due_date", text="quando vence?", intent="ask_due_date")
    assert chat.slots["pending_request"] == "due_date"
    assert [b["payload"] for b in chat.buttons] == [
        f'/inform{{"debt_reference":"{first.reference}"}}',
        f'/inform{{"debt_reference":"{second.reference}"}}',
    ]
    assert "2" in asked[0]

    answered = chat.run(
        "action_choose_debt",
        text=chat.buttons[1]["payload"],
        entities=[{"entity": "debt_reference", "value": second.reference}],
    )
    assert chat.slots["debt_reference"] == second.reference
    assert chat.slots["pending_request"] is None
    assert answered and "venc" in answered[0].lower()


def test_a_turn_the_gateway_did_not_sign_reads_nothing(stack, db):
    debtor, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")
    chat.verify(debtor)
    chat.signed = False  # a made-up conversation posted straight to the action server

    said = chat.run("action_answer_balance", text="how much do I owe?", intent="ask_balance")

    assert "Sorry, something went wrong on our side" in said[0]
    assert "2,450.90" not in " ".join(said) and debt.reference not in " ".join(said)


def test_a_web_chat_needing_a_code_asks_for_it_and_verifies_with_it(stack, db):
    debtor, debt = factories.debtor_with_debt(db)
    db.get(Creditor, debtor.creditor_id).verification_mode = VerificationMode.KNOWLEDGE_AND_CODE
    debtor.email = "ana.code@example.com"
    db.commit()
    chat = Conversation(stack["actions"], language="pt_BR")
    chat.active_loop = "verification_form"
    chat.run("validate_verification_form", text="8909", set_slots={"document_suffix": "8909"})
    chat.slots["document_suffix"] = debtor.document_number[-4:]

    asked = chat.run(
        "validate_verification_form", text="14/03/1988", set_slots={"birth_date": "14/03/1988"}
    )

    assert chat.slots["code_sent"] is True and chat.slots["verified"] is False
    assert "a•••@e•••.com" in asked[0] and debt.reference not in asked[0]
    deadline = time.monotonic() + 10
    while not (mails := stack["mailbox"].to("ana.code@example.com")):
        assert time.monotonic() < deadline, "no code was e-mailed"
        time.sleep(0.05)
    code = re.search(r"\b(\d{6})\b", mails[-1].body).group(1)
    wrong = chat.run(
        "validate_verification_form", text="000000", set_slots={"one_time_code": "000000"}
    )
    assert chat.slots["verified"] is False and wrong

    said = chat.run("validate_verification_form", text=code, set_slots={"one_time_code": code})

    assert chat.slots["verified"] is True and chat.slots["debt_reference"] == debt.reference
    assert debt.reference in said[0]


def test_hello_again_by_name_only_while_the_backend_says_verified(stack, db):
    debtor, _ = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")
    chat.verify(debtor)

    again = chat.run("action_greet", text="hi", intent="greet")
    assert again[0].startswith("Hello again, Ana")

    contact = db.scalars(
        select(ChannelContact).where(ChannelContact.external_id == chat.sender.split(":", 1)[1])
    ).one()
    contact.verified_at = None  # the person pressed "end conversation", or stayed idle
    db.commit()
    stranger = chat.run("action_greet", text="hi", intent="greet")

    assert "Ana" not in stranger[0]
    assert chat.slots["verified"] is False and chat.slots["debtor_name"] is None
