"""The Telegram channel: the real python-telegram-bot against a fake Bot API and a fake Rasa."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.config import get_settings
from backend.contacts.models import ChannelContact
from backend.enums import Channel
from backend.gateway import link_tokens
from backend.gateway.channels.base import (
    OutboundText,
    PermanentSendError,
    Recipient,
    TransientSendError,
)
from backend.gateway.channels.models import InboundUpdate, UsedLinkToken
from backend.gateway.channels.telegram import (
    LINK_REFUSED,
    LINKED,
    MAX_CALLBACK_BYTES,
    TEXT_ONLY,
    TOO_LONG,
    ChatPacer,
    TelegramAdapter,
    callback_data,
    register_webhook,
)
from backend.gateway.channels.telegram_polling import build_polling_application
from backend.gateway.channels.telegram_webhook import SECRET_HEADER
from backend.gateway.models import OutboundChannel
from backend.gateway.rasa_client import Button
from backend.interactions.models import Interaction
from locales import format_number, translate
from tests import factories
from tests.conftest import SERVICE_TOKEN, signing_contacts
from tests.fake_http import loopback_server, reply_json
from tests.test_gateway import FakeRasa

WEBHOOK = "/channels/telegram/webhook"
SECRET = "test-webhook-secret_0123"
BOT_TOKEN = "123456:TEST-token"
LINK_SECRET = "test-link-secret"
CHAT = 424242
TOO_MANY_REQUESTS = {
    "ok": False,
    "error_code": 429,
    "description": "Too Many Requests: retry after 1",
    "parameters": {"retry_after": 1},
}


class FakeBotApi:
    """The Telegram Bot API as python-telegram-bot calls it: records calls, answers as told."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.refuse_next_sends = 0  # answer that many sendMessage calls with a 429
        self.send_error: tuple[int, str] | None = None  # answer sendMessage with this error
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                method = self.path.rsplit("/", 1)[-1]
                length = int(self.headers.get("Content-Length") or 0)
                params = _decode(self.headers.get("Content-Type", ""), self.rfile.read(length))
                fake.calls.append({"method": method, "params": params, "at": time.monotonic()})
                status, body = fake.answer(method, params)
                raw = json.dumps(body).encode()
                reply_json(self, status, raw)

            def log_message(self, *_args) -> None:
                pass

        self.server, self.url, self.thread = loopback_server(Handler)

    def answer(self, method: str, params: dict) -> tuple[int, dict]:
        if method == "getMe":
            me = {"id": 123456, "is_bot": True, "first_name": "Acordo", "username": "acordo_bot"}
            return 200, {"ok": True, "result": me}
        if method == "sendMessage":
            if self.refuse_next_sends:
                self.refuse_next_sends -= 1
                return 429, TOO_MANY_REQUESTS
            if self.send_error is not None:
                code, description = self.send_error
                return code, {"ok": False, "error_code": code, "description": description}
            message = {
                "message_id": len(self.calls),
                "date": 1_700_000_000,
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params["text"],
            }
            return 200, {"ok": True, "result": message}
        return 200, {"ok": True, "result": True}

    def sent(self) -> list[dict]:
        return [call["params"] for call in self.calls if call["method"] == "sendMessage"]

    def calls_to(self, method: str) -> list[dict]:
        return [call["params"] for call in self.calls if call["method"] == method]


def _decode(content_type: str, raw: bytes) -> dict:
    # python-telegram-bot posts a form whose values are JSON (plain strings stay as they are).
    if content_type.startswith("application/json"):
        return json.loads(raw or b"{}")
    params = {}
    for key, value in parse_qsl(raw.decode()):
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    fake = FakeBotApi()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(timeout=5)


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    fake = FakeRasa()
    fake.thread.start()
    yield fake
    fake.release.set()
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(timeout=5)


class Telegram:
    """The app with the bot running, seen from Telegram's side of the webhook."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.application = client.app.state.gateway.telegram
        self.next_update_id = 1000

    def post(self, body, *, secret: str | None = SECRET, raw: bytes | None = None):
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        if raw is not None:
            response = self.client.post(WEBHOOK, content=raw, headers=headers)
        else:
            response = self.client.post(WEBHOOK, json=body, headers=headers)
        self.settle()
        return response

    def settle(self) -> None:
        """Wait until the bot has handled every queued update."""

        async def join() -> None:
            await asyncio.wait_for(self.application.update_queue.join(), timeout=10)

        self.client.portal.call(join)

    def update(self, *, update_id: int | None = None, **content) -> dict:
        if update_id is None:
            self.next_update_id += 1
            update_id = self.next_update_id
        return {"update_id": update_id, **content}


@pytest.fixture
def telegram(app, settings, rasa, bot_api) -> Iterator[Telegram]:
    overridden = settings.model_copy(
        update={
            "rasa_url": rasa.url,
            "rasa_timeout_seconds": 2.0,
            "telegram_bot_token": BOT_TOKEN,
            "telegram_webhook_secret": SECRET,
            "telegram_bot_username": "acordo_bot",
            "telegram_api_base_url": f"{bot_api.url}/bot",
            "link_token_secret": LINK_SECRET,
        }
    )
    app.dependency_overrides[get_settings] = lambda: overridden
    with TestClient(app, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as client:
        client.event_hooks = {"request": [signing_contacts(overridden)], "response": []}
        # One message a second per chat is tested on its own; here it would only slow tests.
        client.app.state.gateway.telegram.bot_data["deps"].pacer = ChatPacer(0.0)
        yield Telegram(client)


def user(chat_id: int = CHAT, language_code: str = "es") -> dict:
    return {"id": chat_id, "is_bot": False, "first_name": "Ana", "language_code": language_code}


def message(text: str | None = None, *, chat_id: int = CHAT, language_code="es", **extra) -> dict:
    body = {
        "message_id": 7,
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "private", "first_name": "Ana"},
        "from": user(chat_id, language_code),
        **extra,
    }
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return body


def callback(data: str, *, chat_id: int = CHAT) -> dict:
    return {
        "id": "4382bfdwdsb323b2d9",
        "from": user(chat_id),
        "chat_instance": "-123456789",
        "data": data,
        "message": message("¿Seguimos?", chat_id=chat_id),
    }


def count(db_session, model) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model))


def events(db_session) -> list[str]:
    db_session.expire_all()
    return list(db_session.scalars(select(Interaction.event).order_by(Interaction.id)))


# --- authentication and bad input -----------------------------------------------------


def test_a_missing_or_wrong_secret_is_refused_and_nothing_is_stored(
    telegram, rasa, bot_api, db_session
):
    update = telegram.update(message=message("hola"))

    assert telegram.post(update, secret=None).status_code == 401
    assert telegram.post(update, secret="not-the-secret").status_code == 403

    assert rasa.received == []
    assert bot_api.sent() == []
    assert count(db_session, InboundUpdate) == 0
    assert count(db_session, ChannelContact) == 0


def test_malformed_json_and_unknown_updates_are_answered_200_and_logged(
    telegram, rasa, bot_api, caplog
):
    caplog.set_level(logging.INFO)

    assert telegram.post(None, raw=b"{not json").status_code == 200
    assert telegram.post([1, 2, 3]).status_code == 200
    edited = message("hola otra vez", edit_date=1_700_000_100)
    assert telegram.post(telegram.update(edited_message=edited)).status_code == 200
    assert telegram.post(telegram.update(poll_answer=None)).status_code == 200

    assert "telegram webhook body unreadable" in caplog.text
    assert "ignored (edited_message)" in caplog.text
    assert rasa.received == []
    assert bot_api.sent() == []


# --- conversation -----------------------------------------------------------------------


def test_a_text_message_is_answered_with_an_inline_keyboard(telegram, rasa, bot_api, db_session):
    rasa.answer(
        {"text": "Hola. ¿Me confirmas tu identidad?"},
        {"text": "¿Seguimos?", "buttons": [{"title": "Sí", "payload": "/affirm"}]},
    )

    assert telegram.post(telegram.update(message=message("cuánto debo"))).status_code == 200

    assert rasa.last["sender"] == f"telegram:{CHAT}"
    assert rasa.last["message"] == "cuánto debo"
    assert rasa.last["metadata"]["channel"] == "telegram"
    first, second = bot_api.sent()
    assert first["chat_id"] == CHAT
    assert first["text"] == "Hola. ¿Me confirmas tu identidad?"
    assert "reply_markup" not in first
    assert second["text"] == "¿Seguimos?"
    assert second["reply_markup"] == {
        "inline_keyboard": [[{"text": "Sí", "callback_data": "/affirm"}]]
    }
    assert events(db_session)[0] == "message.received"
    assert events(db_session).count("message.sent") == 2


def test_an_update_delivered_three_times_is_answered_once(telegram, rasa, bot_api, db_session):
    rasa.answer({"text": "Hola"})
    update = telegram.update(message=message("hola"))

    for _ in range(3):
        assert telegram.post(update).status_code == 200

    assert len(rasa.received) == 1
    assert len(bot_api.sent()) == 1
    assert count(db_session, InboundUpdate) == 1


def test_a_button_press_forwards_its_payload_and_answers_the_callback(telegram, rasa, bot_api):
    rasa.answer({"text": "¿Seguimos?", "buttons": [{"title": "Sí", "payload": "/affirm"}]})
    telegram.post(telegram.update(message=message("quiero pagar")))
    rasa.answer({"text": "Perfecto"})

    telegram.post(telegram.update(callback_query=callback("/affirm")))

    assert rasa.last["message"] == "/affirm"  # our own button: a legitimate intent
    assert bot_api.calls_to("answerCallbackQuery")[0]["callback_query_id"] == ("4382bfdwdsb323b2d9")
    assert bot_api.sent()[-1]["text"] == "Perfecto"


def test_a_payload_longer_than_telegram_allows_travels_as_a_digest(telegram, rasa, bot_api):
    payload = '/choose_plan{"plan_id": "' + "x" * 80 + '"}'
    rasa.answer({"text": "¿Este plan?", "buttons": [{"title": "Este", "payload": payload}]})
    telegram.post(telegram.update(message=message("quiero un plan")))
    [[button]] = bot_api.sent()[-1]["reply_markup"]["inline_keyboard"]
    assert len(button["callback_data"].encode()) <= MAX_CALLBACK_BYTES
    assert callback_data("/affirm") == "/affirm"
    rasa.answer({"text": "ok"})

    telegram.post(telegram.update(callback_query=callback(button["callback_data"])))

    assert rasa.last["message"] == payload


def test_a_typed_command_does_not_reach_rasa_as_an_intent(telegram, rasa):
    rasa.answer({"text": "ok"})

    telegram.post(telegram.update(message=message("/deny")))

    assert rasa.last["message"] == "deny"


@pytest.mark.parametrize(
    "content",
    [
        {
            "sticker": {
                "file_id": "CAACAgIAAxkBAAIB",
                "file_unique_id": "AgADbQADwZxgDA",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        },
        {"photo": [{"file_id": "AgACAgQ", "file_unique_id": "AQAD", "width": 90, "height": 60}]},
        {"voice": {"file_id": "AwACAgQ", "file_unique_id": "AgAD", "duration": 3}},
    ],
    ids=["sticker", "photo", "voice"],
)
def test_what_is_not_text_gets_the_text_only_reply(content, telegram, rasa, bot_api, db_session):
    telegram.post(telegram.update(message=message(**content)))

    assert rasa.received == []
    [reply] = bot_api.sent()
    assert reply["text"] == translate("es", TEXT_ONLY)
    assert reply["text"] != TEXT_ONLY
    assert events(db_session) == ["message.unsupported"]


def test_a_very_long_message_is_refused_politely(telegram, rasa, bot_api):
    telegram.post(telegram.update(message=message("a" * 2001, language_code="it")))

    assert rasa.received == []
    [reply] = bot_api.sent()
    assert reply["text"] == translate("it", TOO_LONG, limit=format_number(2000, "it"))


# ptb's own rate limiter reads RetryAfter.retry_after, deprecated as a number since 22.2.
@pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")
def test_a_429_is_retried_after_retry_after_and_delivered_once(telegram, rasa, bot_api):
    rasa.answer({"text": "Hola"})
    bot_api.refuse_next_sends = 1

    telegram.post(telegram.update(message=message("hola")))

    attempts = [call for call in bot_api.calls if call["method"] == "sendMessage"]
    assert len(attempts) == 2
    assert attempts[1]["at"] - attempts[0]["at"] >= 1.0
    assert len(rasa.received) == 1


def test_one_chat_gets_at_most_one_message_per_interval():
    async def send_four() -> list[float]:
        pacer = ChatPacer(0.2)
        loop = asyncio.get_running_loop()
        times = []
        for chat_id in (1, 1, 2, 1):
            await pacer.wait(chat_id)
            times.append((chat_id, loop.time()))
        return times

    times = asyncio.run(send_four())
    to_chat_one = [at for chat_id, at in times if chat_id == 1]
    assert all(b - a >= 0.19 for a, b in zip(to_chat_one, to_chat_one[1:], strict=False))
    assert times[2][1] - times[1][1] < 0.1  # another chat does not wait


# --- deep links ---------------------------------------------------------------------------


def issue_link(telegram, db_session, clock) -> str:
    debtor, _ = factories.debtor_with_debt(db_session)
    factories.contact(db_session, debtor, external_id="web-verified", verified_at=clock.fixed)
    db_session.commit()
    response = telegram.client.post("/api/v1/contacts/webchat/web-verified/telegram-link")
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    assert url.startswith("https://t.me/acordo_bot?start=")
    return url.split("start=", 1)[1]


def telegram_contact(db_session, chat_id: int) -> ChannelContact | None:
    db_session.expire_all()
    query = select(ChannelContact).where(
        ChannelContact.channel == Channel.TELEGRAM, ChannelContact.external_id == str(chat_id)
    )
    return db_session.scalars(query).one_or_none()


def test_start_with_a_valid_token_binds_the_chat_once(telegram, rasa, bot_api, db_session, clock):
    token = issue_link(telegram, db_session, clock)
    assert len(token) <= 64

    telegram.post(telegram.update(message=message(f"/start {token}", language_code="pt-br")))

    contact = telegram_contact(db_session, CHAT)
    assert contact.debtor_id is not None
    assert contact.verified_at is None  # binding narrows who may verify; it is no verification
    assert bot_api.sent()[-1]["text"] == translate("pt_BR", LINKED)
    assert rasa.received == []
    assert "telegram.linked" in events(db_session)

    telegram.post(telegram.update(message=message(f"/start {token}", chat_id=CHAT + 1)))

    assert telegram_contact(db_session, CHAT + 1).debtor_id is None
    assert bot_api.sent()[-1]["text"] == translate("es", LINK_REFUSED["used"])
    assert count(db_session, UsedLinkToken) == 1


def test_expired_and_forged_tokens_are_refused_politely(telegram, bot_api, db_session, clock):
    debtor, _ = factories.debtor_with_debt(db_session)
    expired = link_tokens.issue(
        debtor_id=debtor.id, secret=LINK_SECRET, ttl_minutes=5, now=clock.fixed - timedelta(hours=1)
    ).token
    foreign = link_tokens.issue(
        debtor_id=debtor.id, secret="someone-else", ttl_minutes=5, now=clock.fixed
    ).token

    for chat_id, token in [(1, expired), (2, foreign), (3, "garbage!"), (4, expired[:-2] + "AA")]:
        telegram.post(telegram.update(message=message(f"/start {token}", chat_id=chat_id)))

    texts = [sent["text"] for sent in bot_api.sent()]
    assert texts == [
        translate("es", LINK_REFUSED[reason]) for reason in ["expired"] + ["forged"] * 3
    ]
    assert all(telegram_contact(db_session, chat_id).debtor_id is None for chat_id in (1, 2, 3, 4))
    assert count(db_session, UsedLinkToken) == 0


def test_a_link_is_only_issued_for_a_verified_contact(telegram, db_session):
    debtor, _ = factories.debtor_with_debt(db_session)
    factories.contact(db_session, debtor, external_id="web-unverified")
    db_session.commit()

    response = telegram.client.post("/api/v1/contacts/webchat/web-unverified/telegram-link")

    assert response.status_code == 403
    anonymous = telegram.client.post(
        "/api/v1/contacts/webchat/web-unverified/telegram-link", headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401


def test_link_tokens_are_short_url_safe_and_signed(clock):
    link = link_tokens.issue(debtor_id=2**40, secret="s", ttl_minutes=60, now=clock.fixed)

    assert len(link.token) <= 64
    assert link.token.replace("-", "").replace("_", "").isalnum()
    assert link_tokens.verify(token=link.token, secret="s", now=clock.fixed).debtor_id == 2**40
    with pytest.raises(link_tokens.LinkTokenRefused, match="forged"):
        link_tokens.verify(token=link.token, secret="other", now=clock.fixed)
    with pytest.raises(link_tokens.LinkTokenRefused, match="expired"):
        link_tokens.verify(token=link.token, secret="s", now=clock.fixed + timedelta(hours=2))


# --- modes ------------------------------------------------------------------------------


def test_polling_mode_can_be_built_without_network(settings):
    configured = settings.model_copy(update={"telegram_bot_token": BOT_TOKEN})

    application = build_polling_application(configured)

    assert application.updater is not None
    assert application.bot.token == BOT_TOKEN
    with pytest.raises(ValueError, match="TELEGRAM_BOT_TOKEN"):
        build_polling_application(settings)


def test_the_webhook_is_registered_with_its_secret(telegram, bot_api):
    url = "https://acordo.example/channels/telegram/webhook"

    telegram.client.portal.call(
        partial(register_webhook, application=telegram.application, url=url)
    )

    [registered] = bot_api.calls_to("setWebhook")
    assert registered["url"] == url
    assert registered["secret_token"] == SECRET
    assert "callback_query" in registered["allowed_updates"]


def test_without_a_token_the_webhook_is_not_served(anonymous_client):
    response = anonymous_client.post(WEBHOOK, json={}, headers={SECRET_HEADER: SECRET})

    assert response.status_code == 404


# --- messages the assistant starts: the outbound adapter ----------------------------------


def to_chat(chat_id: int = CHAT) -> Recipient:
    return Recipient(
        channel=OutboundChannel.TELEGRAM, address=str(chat_id), contact_id=None, language="es"
    )


REMINDER = OutboundText(
    text="Ana, tu cuota vence mañana.",
    buttons=[Button(title="Quiero un plan", payload="/request_payment_plan")],
)


def send_out(settings, message: OutboundText = REMINDER, to: Recipient | None = None) -> str:
    async def go() -> str:
        adapter = TelegramAdapter(settings)  # the sender process: its own bot
        try:
            return await adapter.send(to or to_chat(), message)
        finally:
            await adapter.aclose()

    return asyncio.run(go())


@pytest.fixture
def bot_settings(settings, bot_api):
    return settings.model_copy(
        update={"telegram_bot_token": BOT_TOKEN, "telegram_api_base_url": f"{bot_api.url}/bot"}
    )


def test_the_adapter_sends_the_text_with_an_inline_keyboard(bot_settings, bot_api):
    message_id = send_out(bot_settings)

    [sent] = bot_api.sent()
    assert sent["chat_id"] == CHAT
    assert sent["text"] == "Ana, tu cuota vence mañana."
    assert sent["reply_markup"] == {
        "inline_keyboard": [[{"text": "Quiero un plan", "callback_data": "/request_payment_plan"}]]
    }
    assert message_id == str(len(bot_api.calls))


@pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")
def test_a_429_comes_back_at_once_as_transient_with_its_retry_after(bot_settings, bot_api):
    bot_api.refuse_next_sends = 1

    with pytest.raises(TransientSendError) as failed:
        send_out(bot_settings)

    assert failed.value.reason == "rate_limited"
    assert failed.value.retry_after == 1
    assert len(bot_api.sent()) == 1  # not retried here: the sender retries with backoff


@pytest.mark.parametrize(
    ("code", "description", "error", "reason"),
    [
        (403, "Forbidden: bot was blocked by the user", PermanentSendError, "blocked"),
        (400, "Bad Request: chat not found", PermanentSendError, "refused"),
        (502, "Bad Gateway", TransientSendError, "unreachable"),
    ],
)
def test_bot_api_refusals_are_permanent_or_transient(
    bot_settings, bot_api, code, description, error, reason
):
    bot_api.send_error = (code, description)

    with pytest.raises(error) as failed:
        send_out(bot_settings)

    assert failed.value.reason == reason


def test_an_unconfigured_bot_or_a_bad_chat_id_is_permanent(settings, bot_settings, bot_api):
    assert not TelegramAdapter(settings).available()
    with pytest.raises(PermanentSendError, match="not_configured"):
        send_out(settings)
    with pytest.raises(PermanentSendError, match="bad_address"):
        send_out(bot_settings, to=Recipient(OutboundChannel.TELEGRAM, "@ana", None, "es"))
    assert bot_api.sent() == []


def test_in_the_app_the_adapter_sends_through_the_running_bot(telegram, bot_api):
    adapter = telegram.client.app.state.gateway.adapters[OutboundChannel.TELEGRAM]

    message_id = telegram.client.portal.call(adapter.send, to_chat(), REMINDER)

    assert adapter.available()
    assert bot_api.sent()[-1]["text"] == REMINDER.text
    assert message_id
    assert bot_api.calls_to("getMe") and len(bot_api.calls_to("getMe")) == 1  # one bot
