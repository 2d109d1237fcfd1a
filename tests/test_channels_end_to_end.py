"""The whole conversation on Telegram and on WhatsApp, through the real stack.

python-telegram-bot (unmodified) talks to a fake Bot API and the WhatsApp channel to a fake
Graph API, both on 127.0.0.1; the backend, the action server and Rasa are the real ones.
A debtor verifies, asks for more installments than the policy allows, picks the counter-offer
with a native button and confirms; the plan must then exist in the backend.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.debts.models import Debt
from backend.plans.models import PaymentPlan, PlanStatus
from backend.seed import DEMO_PERSONAS, POLICY_TABLE
from tests.stack import seeded_stack
from tests.test_telegram import FakeBotApi
from tests.test_whatsapp import FakeGraph

pytestmark = pytest.mark.e2e

TELEGRAM_SECRET = "e2e-telegram-secret"
APP_SECRET = "e2e-app-secret"
PHONE_NUMBER_ID = "106540352242922"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, trained_model):
    bot_api, graph = FakeBotApi(), FakeGraph()
    for fake in (bot_api, graph):
        fake.thread.start()
    channels = {
        "ACORDO_TELEGRAM_BOT_TOKEN": "123456:E2E-token",
        "ACORDO_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "ACORDO_TELEGRAM_BOT_USERNAME": "acordo_bot",
        "ACORDO_TELEGRAM_API_BASE_URL": f"{bot_api.url}/bot",
        "ACORDO_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "ACORDO_WHATSAPP_ACCESS_TOKEN": "e2e-access-token",
        "ACORDO_WHATSAPP_APP_SECRET": APP_SECRET,
        "ACORDO_WHATSAPP_VERIFY_TOKEN": "e2e-verify-token",
        "ACORDO_WHATSAPP_GRAPH_BASE_URL": graph.url,
    }
    try:
        folder = tmp_path_factory.mktemp("channels")
        with seeded_stack(folder, trained_model, **channels) as running:
            yield {
                "backend": running.backend_url,
                "db": running.engine,
                "bot_api": bot_api,
                "graph": graph,
            }
    finally:
        for fake in (bot_api, graph):
            fake.server.shutdown()
            fake.server.server_close()


def wait_for_replies(count, before: int, timeout: float = 180) -> None:
    """Until the bot has answered: new messages arrived and then nothing more for a moment."""
    deadline = time.monotonic() + timeout
    while count() == before:
        assert time.monotonic() < deadline, "the bot did not answer"
        time.sleep(0.2)
    seen = count()
    while True:
        time.sleep(1.5)
        if count() == seen:
            return
        seen = count()


def plan_of(stack, persona) -> PaymentPlan | None:
    reference = persona.external_ref.replace("C-", "D-")
    with Session(stack["db"]) as session:
        debt = session.scalars(select(Debt).where(Debt.reference == reference)).one()
        return session.scalars(
            select(PaymentPlan).where(
                PaymentPlan.debt_id == debt.id, PaymentPlan.status == PlanStatus.ACTIVE
            )
        ).one_or_none()


def persona(language: str):
    return next(p for p in DEMO_PERSONAS if p.language.value == language)


def suffix(someone) -> str:
    return "".join(ch for ch in someone.document if ch.isalnum())[-4:]


class TelegramChat:
    def __init__(self, stack, chat_id: int, language_code: str) -> None:
        self.stack, self.chat_id, self.language_code = stack, chat_id, language_code
        self.update_id = chat_id * 1000

    def _post(self, content: dict) -> list[dict]:
        api = self.stack["bot_api"]
        before = len(api.sent())
        self.update_id += 1
        response = httpx.post(
            f"{self.stack['backend']}/channels/telegram/webhook",
            json={"update_id": self.update_id, **content},
            headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
            timeout=30,
        )
        assert response.status_code == 200
        wait_for_replies(lambda: len(api.sent()), before)
        return api.sent()[before:]

    def say(self, text: str) -> list[dict]:
        sender = {
            "id": self.chat_id,
            "is_bot": False,
            "first_name": "Test",
            "language_code": self.language_code,
        }
        return self._post(
            {
                "message": {
                    "message_id": self.update_id,
                    "date": int(time.time()),
                    "text": text,
                    "from": sender,
                    "chat": {"id": self.chat_id, "type": "private"},
                }
            }
        )

    def press(self, data: str) -> list[dict]:
        sender = {"id": self.chat_id, "is_bot": False, "first_name": "Test"}
        return self._post(
            {
                "callback_query": {
                    "id": str(self.update_id),
                    "from": sender,
                    "chat_instance": "e2e",
                    "data": data,
                    "message": {
                        "message_id": 1,
                        "date": int(time.time()),
                        "text": "…",
                        "chat": {"id": self.chat_id, "type": "private"},
                    },
                }
            }
        )


def keyboard(sent: list[dict]) -> list[dict]:
    markup = next((m["reply_markup"] for m in sent if m.get("reply_markup")), None)
    assert markup, sent
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return [button for row in markup["inline_keyboard"] for button in row]


def test_a_whole_conversation_on_telegram(stack):
    marco = persona("it")
    chat = TelegramChat(stack, chat_id=777001, language_code="it")

    asked = chat.say("quanto devo pagare?")
    assert "Aurora" not in " ".join(m["text"] for m in asked)
    chat.say(suffix(marco))
    verified = " ".join(m["text"] for m in chat.say(marco.birth_date.strftime("%d/%m/%Y")))
    assert "Aurora Crédito Financeiro S.A." in verified and "3.600,00" in verified

    offered = chat.say("vorrei pagare in 36 rate")
    first_option = keyboard(offered)[0]["callback_data"]
    confirm = keyboard(chat.press(first_option))[0]["callback_data"]
    assert confirm == "/affirm"
    chat.press(confirm)

    plan = plan_of(stack, marco)
    assert plan is not None
    assert plan.installment_count == POLICY_TABLE[(marco.segment, marco.currency)][0]


class WhatsAppChat:
    def __init__(self, stack, wa_id: str) -> None:
        self.stack, self.wa_id, self.number = stack, wa_id, 0

    def _deliver(self, message: dict) -> list[dict]:
        graph = self.stack["graph"]
        before = len(graph.messages)
        self.number += 1
        body = json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {
                        "id": "WABA",
                        "changes": [
                            {
                                "field": "messages",
                                "value": {
                                    "messaging_product": "whatsapp",
                                    "metadata": {
                                        "display_phone_number": "15550000000",
                                        "phone_number_id": PHONE_NUMBER_ID,
                                    },
                                    "contacts": [
                                        {"profile": {"name": "Test"}, "wa_id": self.wa_id}
                                    ],
                                    "messages": [
                                        {
                                            "from": self.wa_id,
                                            "id": f"wamid.E2E{self.number}",
                                            "timestamp": str(int(time.time())),
                                            **message,
                                        }
                                    ],
                                },
                            }
                        ],
                    }
                ],
            }
        ).encode()
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        response = httpx.post(
            f"{self.stack['backend']}/channels/whatsapp/webhook",
            content=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
            timeout=30,
        )
        assert response.status_code == 200
        wait_for_replies(lambda: len(graph.messages), before)
        return graph.messages[before:]

    def say(self, text: str) -> list[dict]:
        return self._deliver({"type": "text", "text": {"body": text}})

    def press(self, button: dict) -> list[dict]:
        return self._deliver(
            {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": button}}
        )


def replies(sent: list[dict]) -> str:
    texts = []
    for message in sent:
        if message["type"] == "text":
            texts.append(message["text"]["body"])
        else:
            texts.append(message["interactive"]["body"]["text"])
    return " ".join(texts)


def reply_buttons(sent: list[dict]) -> list[dict]:
    interactive = next(m["interactive"] for m in sent if m["type"] == "interactive")
    return [b["reply"] for b in interactive["action"]["buttons"]]


def test_a_whole_conversation_on_whatsapp(stack):
    lucia = persona("es")
    chat = WhatsAppChat(stack, lucia.phone.lstrip("+"))

    asked = replies(chat.say("¿cuánto debo?"))
    assert "Aurora" not in asked
    chat.say(suffix(lucia))
    verified = replies(chat.say(lucia.birth_date.strftime("%d/%m/%Y")))
    assert "Aurora Crédito Financeiro S.A." in verified and "1.280,00" in verified

    offered = chat.say("quiero pagar en 36 cuotas")
    confirm = reply_buttons(chat.press(reply_buttons(offered)[0]))
    assert confirm[0]["id"] == "/affirm"
    chat.press(confirm[0])

    plan = plan_of(stack, lucia)
    assert plan is not None
    assert plan.installment_count == POLICY_TABLE[(lucia.segment, lucia.currency)][0]
