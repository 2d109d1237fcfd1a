"""The WhatsApp Cloud API channel, against a fake Graph API and a fake Rasa on local ports."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.config import get_settings
from backend.contacts.models import ChannelContact
from backend.enums import Channel, Language
from backend.gateway.channels import whatsapp_api as whatsapp
from backend.gateway.channels.base import (
    OutboundText,
    PermanentSendError,
    Recipient,
    TemplateCall,
    TransientSendError,
)
from backend.gateway.channels.whatsapp import WhatsAppAdapter
from backend.gateway.models import OutboundChannel
from backend.gateway.rasa_client import BotMessage, Button
from backend.interactions.models import Interaction
from backend.interactions.service import read_text
from locales import translate
from tests import factories
from tests.fake_http import loopback_server, reply_json
from tests.test_gateway import TIMEOUT_SECONDS, FakeRasa

WEBHOOK = "/channels/whatsapp/webhook"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
PHONE_NUMBER_ID = "106540352242922"
ACCESS_TOKEN = "test-access-token"
WA_ID = "5511987650001"
TEMPLATES = {"pt_BR": "lembrete_pagamento", "en": "payment_reminder"}


class FakeGraph:
    """The Graph API's messages endpoint: records each message, answers with a new wamid."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.fail = False
        self.error: tuple[int, int] | None = None  # answer (HTTP status, Meta's error code)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers["Content-Length"])
                payload = json.loads(self.rfile.read(length))
                fake.sent.append(
                    {
                        "path": self.path,
                        "authorization": self.headers["Authorization"],
                        "json": payload,
                    }
                )
                if fake.error is not None:
                    status, code = fake.error
                    answer = {
                        "error": {"code": code, "message": "refused", "type": "OAuthException"}
                    }
                elif fake.fail:
                    status, answer = 500, {"error": {"code": 131000, "message": "boom"}}
                else:
                    status, answer = (
                        200,
                        {
                            "messaging_product": "whatsapp",
                            "contacts": [{"input": payload["to"], "wa_id": payload["to"]}],
                            "messages": [{"id": f"wamid.X{len(fake.sent)}"}],
                        },
                    )
                body = json.dumps(answer).encode()
                reply_json(self, status, body)

            def log_message(self, *_args) -> None:
                pass

        self.server, self.url, self.thread = loopback_server(Handler)

    @property
    def messages(self) -> list[dict]:
        return [sent["json"] for sent in self.sent]


def _serve(fake) -> Iterator:
    fake.thread.start()
    yield fake
    if hasattr(fake, "release"):
        fake.release.set()
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(timeout=5)


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    yield from _serve(FakeGraph())


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    yield from _serve(FakeRasa())


@pytest.fixture
def wa_settings(settings, graph, rasa):
    return settings.model_copy(
        update={
            "rasa_url": rasa.url,
            "rasa_timeout_seconds": TIMEOUT_SECONDS,
            "whatsapp_phone_number_id": PHONE_NUMBER_ID,
            "whatsapp_access_token": ACCESS_TOKEN,
            "whatsapp_app_secret": APP_SECRET,
            "whatsapp_verify_token": VERIFY_TOKEN,
            "whatsapp_graph_base_url": graph.url,
            "whatsapp_timeout_seconds": 2.0,
            "whatsapp_templates": TEMPLATES,
        }
    )


@pytest.fixture
def meta(app, wa_settings) -> Iterator[TestClient]:
    """A client without the service token: Meta calling the webhook (once the app started)."""
    app.dependency_overrides[get_settings] = lambda: wa_settings
    with TestClient(app) as client:
        yield client


@pytest.fixture
def contact(db_session) -> ChannelContact:
    """A seeded WhatsApp contact bound to its debtor (Brazilian Portuguese), as the demo has."""
    debtor, _ = factories.debtor_with_debt(db_session)
    bound = factories.contact(
        db_session, debtor, channel=Channel.WHATSAPP, external_id=WA_ID, language=Language.PT_BR
    )
    db_session.commit()
    return bound


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(meta, payload, *, signature: str | None = "valid"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[whatsapp.SIGNATURE_HEADER] = sign(body) if signature == "valid" else signature
    return meta.post(WEBHOOK, content=body, headers=headers)


def webhook(*, messages=(), statuses=()) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": "Ana"}, "wa_id": WA_ID}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA_ID", "changes": [{"field": "messages", "value": value}]}],
    }


def message(kind: str, content: dict, *, wamid: str = "wamid.IN1") -> dict:
    return {"from": WA_ID, "id": wamid, "timestamp": "1732000000", "type": kind, kind: content}


def text(body: str, *, wamid: str = "wamid.IN1") -> dict:
    return message("text", {"body": body}, wamid=wamid)


def interactions(db_session) -> list[Interaction]:
    db_session.expire_all()
    return list(db_session.scalars(select(Interaction).order_by(Interaction.id)))


def events(db_session) -> list[str]:
    return [i.event for i in interactions(db_session)]


def buttons(count: int) -> list[dict]:
    titles = ["Pagar à vista", "Parcelar", "Já paguei", "Falar com um atendente humano"]
    return [{"title": titles[n], "payload": f'/choose{{"option": {n}}}'} for n in range(count)]


# --- the handshake and what is refused --------------------------------------------------


def test_the_handshake_echoes_the_challenge(meta):
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }

    response = meta.get(WEBHOOK, params=params)

    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
)
def test_a_handshake_without_the_verify_token_is_forbidden(meta, params):
    response = meta.get(WEBHOOK, params=params)

    assert response.status_code == 403
    assert "1" not in response.text.replace("403", "")


def test_the_routes_refuse_to_work_until_configured(app, settings, anonymous_client, db_session):
    app.dependency_overrides[get_settings] = lambda: settings  # no WhatsApp settings

    handshake = anonymous_client.get(WEBHOOK, params={"hub.mode": "subscribe"})
    delivery = anonymous_client.post(WEBHOOK, json=webhook(messages=[text("oi")]))

    for response in (handshake, delivery):
        assert response.status_code == 503
        assert response.json()["detail"]["reason_code"] == "whatsapp_not_configured"
        assert "ACORDO_WHATSAPP_APP_SECRET" in response.json()["detail"]["message"]
    assert interactions(db_session) == []


@pytest.mark.parametrize(
    "signature", [None, "", "sha256=", "sha256=" + "0" * 64, sign(b"{}"), "md5=abc"]
)
def test_a_delivery_without_a_valid_signature_is_refused_and_nothing_is_stored(
    meta, rasa, graph, contact, db_session, signature
):
    response = deliver(meta, webhook(messages=[text("quanto eu devo?")]), signature=signature)

    assert response.status_code == 401
    assert rasa.received == [] and graph.sent == []
    assert interactions(db_session) == []


def test_a_signature_made_with_another_secret_is_refused(meta, rasa, contact, db_session):
    body = json.dumps(webhook(messages=[text("oi")])).encode()

    response = deliver(meta, body, signature=sign(body, "someone-else"))

    assert response.status_code == 401
    assert rasa.received == [] and interactions(db_session) == []


@pytest.mark.parametrize(
    "body", [b"{not json", b"[]", b'{"object": "whatsapp_business_account", "entry": 5}', b""]
)
def test_a_signed_but_malformed_body_is_a_bad_request_and_nothing_is_stored(
    meta, rasa, graph, contact, db_session, body
):
    response = deliver(meta, body)

    assert response.status_code == 400
    assert response.json()["detail"]["reason_code"] == "malformed_payload"
    assert rasa.received == [] and graph.sent == []
    assert interactions(db_session) == []


# --- messages in, replies out -----------------------------------------------------------


def test_a_text_from_a_bound_contact_is_answered_with_one_text_message(
    meta, rasa, graph, contact, db_session, clock
):
    rasa.answer({"text": "Olá! Para sua segurança, confirme sua identidade."})

    response = deliver(meta, webhook(messages=[text("quanto eu devo?")]))

    assert response.status_code == 200
    assert rasa.last["sender"] == f"whatsapp:{WA_ID}"
    assert rasa.last["message"] == "quanto eu devo?"
    assert rasa.last["metadata"]["debtor_known"] is True
    assert rasa.last["metadata"]["language"] == "pt_BR"
    [sent] = graph.sent
    assert sent["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert sent["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert sent["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"body": "Olá! Para sua segurança, confirme sua identidade.", "preview_url": False},
    }
    logged = interactions(db_session)
    assert [i.event for i in logged] == ["message.received", "message.sent", "message.delivery"]
    assert logged[2].data == {"interaction_id": logged[1].id, "type": "text", "wamid": "wamid.X1"}
    assert {i.debtor_id for i in logged} == {contact.debtor_id}
    db_session.refresh(contact)
    assert contact.last_inbound_at == clock.fixed


def test_two_buttons_become_reply_buttons(meta, rasa, graph, contact):
    rasa.answer({"text": "Como prefere pagar?", "buttons": buttons(2)})

    deliver(meta, webhook(messages=[text("quero pagar")]))

    [sent] = graph.messages
    assert sent["type"] == "interactive"
    assert sent["interactive"] == {
        "type": "button",
        "body": {"text": "Como prefere pagar?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": b["payload"], "title": b["title"]}}
                for b in buttons(2)
            ]
        },
    }


def test_four_buttons_become_a_list(meta, rasa, graph, contact, db_session):
    rasa.answer({"text": "Como posso ajudar?", "buttons": buttons(4)})

    deliver(meta, webhook(messages=[text("oi")]))

    [sent] = graph.messages
    interactive = sent["interactive"]
    assert interactive["type"] == "list"
    assert interactive["body"] == {"text": "Como posso ajudar?"}
    assert interactive["action"]["button"] == translate("pt_BR", "Options")
    rows = interactive["action"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == [b["payload"] for b in buttons(4)]
    assert rows[3] == {
        "id": buttons(4)[3]["payload"],
        "title": "Falar com um atendente …",  # 24 characters at most
        "description": "Falar com um atendente humano",
    }
    assert interactions(db_session)[-1].data["type"] == "interactive"


@pytest.mark.parametrize("kind", ["button_reply", "list_reply"])
def test_a_pressed_button_sends_its_payload_to_rasa(meta, rasa, graph, contact, kind):
    offered = buttons(2 if kind == "button_reply" else 4)
    rasa.answer({"text": "Como prefere pagar?", "buttons": offered})
    deliver(meta, webhook(messages=[text("quero pagar")]))
    rasa.answer({"text": "Certo."})

    reply = {"id": offered[1]["payload"], "title": offered[1]["title"]}
    if kind == "list_reply":
        reply["description"] = ""
    pressed = message("interactive", {"type": kind, kind: reply}, wamid="wamid.IN2")
    deliver(meta, webhook(messages=[pressed]))

    assert rasa.last["message"] == offered[1]["payload"]  # an offered payload: kept as is
    assert rasa.last["metadata"]["detected_language"] is None
    assert graph.messages[-1]["text"]["body"] == "Certo."


def test_a_message_delivered_three_times_is_answered_once(meta, rasa, graph, contact, db_session):
    rasa.answer({"text": "Olá!"})

    responses = [deliver(meta, webhook(messages=[text("oi")])) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len(rasa.received) == 1
    assert len(graph.sent) == 1
    assert events(db_session).count("message.received") == 1


def test_an_image_gets_the_text_only_reply_in_the_contact_language_and_skips_rasa(
    meta, rasa, graph, contact, db_session
):
    image = message("image", {"mime_type": "image/jpeg", "sha256": "abc", "id": "MEDIA_ID"})

    response = deliver(meta, webhook(messages=[image]))

    assert response.status_code == 200
    assert rasa.received == []
    [sent] = graph.messages
    only_text = translate("pt_BR", "Sorry, I can only read text.")
    assert only_text != "Sorry, I can only read text."
    assert sent["type"] == "text" and sent["text"]["body"] == only_text
    received, answered = interactions(db_session)
    assert (received.event, received.data) == ("message.received", {"type": "image"})
    assert answered.event == "message.sent"
    assert read_text(db_session=db_session, interaction=answered) == only_text
    assert answered.data["wamid"] == "wamid.X1"


@pytest.mark.parametrize("kind", ["audio", "sticker", "document", "location", "unsupported"])
def test_other_media_get_the_same_reply(meta, rasa, graph, contact, kind):
    deliver(meta, webhook(messages=[message(kind, {"id": "X"})]))

    assert rasa.received == []
    assert graph.messages[0]["text"]["body"] == translate("pt_BR", "Sorry, I can only read text.")


def test_a_message_from_an_unknown_number_reaches_rasa_as_an_unknown_sender(
    meta, rasa, graph, db_session
):
    rasa.answer({"text": "Hello! Please verify your identity."})

    deliver(meta, webhook(messages=[text("how much do I owe")]))

    assert rasa.last["metadata"]["debtor_known"] is False
    assert len(graph.sent) == 1
    contact = db_session.scalars(select(ChannelContact)).one()
    assert (contact.channel, contact.external_id, contact.debtor_id) == (
        Channel.WHATSAPP,
        WA_ID,
        None,
    )


def test_when_the_graph_api_fails_the_failure_is_logged_and_meta_still_gets_200(
    meta, rasa, graph, contact, db_session
):
    graph.fail = True
    rasa.answer({"text": "Olá!"})

    response = deliver(meta, webhook(messages=[text("oi")]))

    assert response.status_code == 200
    delivery = interactions(db_session)[-1]
    assert delivery.event == "message.delivery"
    assert delivery.data["wamid"] is None
    assert "500" in delivery.data["error"]


def test_a_message_to_another_business_number_is_ignored(meta, rasa, graph, contact, db_session):
    payload = webhook(messages=[text("oi")])
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"

    assert deliver(meta, payload).status_code == 200
    assert rasa.received == [] and graph.sent == [] and interactions(db_session) == []


# --- statuses -----------------------------------------------------------------------------


def test_statuses_are_logged_once_each(meta, contact, db_session):
    error = {"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message"}
    statuses = [
        {"id": "wamid.OUT1", "status": s, "timestamp": "1732000001", "recipient_id": WA_ID}
        for s in ("sent", "delivered", "read")
    ]
    statuses.append(
        {
            "id": "wamid.OUT2",
            "status": "failed",
            "timestamp": "1732000002",
            "recipient_id": WA_ID,
            "errors": [error],
        }
    )

    assert deliver(meta, webhook(statuses=statuses)).status_code == 200
    assert deliver(meta, webhook(statuses=statuses[:1])).status_code == 200  # redelivered

    logged = interactions(db_session)
    assert [(i.event, i.data["wamid"], i.data["status"]) for i in logged] == [
        ("message.status", "wamid.OUT1", "sent"),
        ("message.status", "wamid.OUT1", "delivered"),
        ("message.status", "wamid.OUT1", "read"),
        ("message.status", "wamid.OUT2", "failed"),
    ]
    assert logged[3].data["errors"] == [error]
    assert logged[0].data["errors"] == []
    assert {(i.contact_id, i.debtor_id, i.channel) for i in logged} == {
        (contact.id, contact.debtor_id, Channel.WHATSAPP)
    }


# --- messages the assistant starts: the outbound adapter ----------------------------------


def recipient(language: str = "pt_BR") -> Recipient:
    return Recipient(
        channel=OutboundChannel.WHATSAPP, address=WA_ID, contact_id=None, language=language
    )


def send_out(settings, message: OutboundText, to: Recipient | None = None) -> str:
    async def go() -> str:
        adapter = WhatsAppAdapter(settings)
        try:
            return await adapter.send(to or recipient(), message)
        finally:
            await adapter.aclose()

    return anyio.run(go)


REMINDER = OutboundText(
    text="Lembrete: sua parcela vence amanhã.",
    buttons=[Button(title="Parcelar", payload="/request_payment_plan")],
)


def test_the_adapter_sends_free_text_with_its_buttons(wa_settings, graph):
    wamid = send_out(wa_settings, REMINDER)

    [sent] = graph.messages
    assert sent["to"] == WA_ID
    assert sent["type"] == "interactive"
    assert sent["interactive"]["body"] == {"text": "Lembrete: sua parcela vence amanhã."}
    [button] = sent["interactive"]["action"]["buttons"]
    assert button["reply"] == {"id": "/request_payment_plan", "title": "Parcelar"}
    assert wamid == "wamid.X1"


@pytest.mark.parametrize("name", ["", "lembrete_pagamento"])
def test_outside_the_24_hour_window_the_adapter_sends_the_template(wa_settings, graph, name):
    template = TemplateCall(name=name, language_code="pt_BR" if name else "", parameters=["Ana"])

    send_out(wa_settings, OutboundText(text="not sent", template=template))

    [sent] = graph.messages
    assert sent["type"] == "template"
    assert sent["template"] == {
        "name": "lembrete_pagamento",
        "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}],
    }
    assert "not sent" not in json.dumps(sent)


def test_without_a_template_for_the_language_the_adapter_refuses_for_good(wa_settings, graph):
    with pytest.raises(PermanentSendError) as refused:
        send_out(wa_settings, OutboundText(text="x", template=TemplateCall()), recipient("it"))

    assert refused.value.reason == "no_template"
    assert graph.sent == []


@pytest.mark.parametrize(
    ("status", "code", "error", "reason"),
    [
        (429, 130429, TransientSendError, "provider_busy"),
        (500, 131000, TransientSendError, "provider_busy"),
        (503, 131016, TransientSendError, "provider_busy"),
        (400, 131056, TransientSendError, "rate_limited"),
        (400, 131026, PermanentSendError, "undeliverable"),
        (400, 131047, PermanentSendError, "outside_service_window"),
        (400, 100, PermanentSendError, "refused"),
    ],
)
def test_graph_api_refusals_are_transient_or_permanent(
    wa_settings, graph, status, code, error, reason
):
    graph.error = (status, code)

    with pytest.raises(error) as failed:
        send_out(wa_settings, REMINDER)

    assert failed.value.reason == reason
    assert WA_ID not in str(failed.value)  # no personal data in what is recorded


def test_an_unreachable_graph_api_is_transient_and_an_unconfigured_channel_permanent(
    wa_settings, settings
):
    with socket.socket() as bound:  # bound, not listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{bound.getsockname()[1]}"
        with pytest.raises(TransientSendError, match="unreachable"):
            send_out(wa_settings.model_copy(update={"whatsapp_graph_base_url": closed}), REMINDER)

    assert not WhatsAppAdapter(settings).available()
    with pytest.raises(PermanentSendError, match="not_configured"):
        send_out(settings, REMINDER)


# --- payload rules ------------------------------------------------------------------------


def test_buttons_without_text_get_a_prompt_and_long_titles_are_clipped():
    message = BotMessage(buttons=[Button(title="Quero parcelar em doze vezes", payload="/plan")])

    payload = whatsapp.message_payload(
        to=WA_ID, message=message, choose_prompt="Escolha:", list_label="Opções"
    )

    assert payload["interactive"]["body"] == {"text": "Escolha:"}
    title = payload["interactive"]["action"]["buttons"][0]["reply"]["title"]
    assert len(title) == 20 and title.endswith("…")


def test_payloads_too_long_for_an_id_are_offered_as_text():
    message = BotMessage(
        text="Escolha:", buttons=[Button(title="Sim", payload="/affirm" + "x" * 300)]
    )

    payload = whatsapp.message_payload(to=WA_ID, message=message, choose_prompt="", list_label="")

    assert payload["type"] == "text"
    assert payload["text"]["body"] == "Escolha:\n\n• Sim"


def test_signature_check():
    body = b'{"object":"whatsapp_business_account"}'

    assert whatsapp.signature_is_valid(app_secret=APP_SECRET, body=body, header=sign(body))
    assert not whatsapp.signature_is_valid(app_secret="", body=body, header=sign(body, ""))
    assert not whatsapp.signature_is_valid(
        app_secret=APP_SECRET, body=body + b" ", header=sign(body)
    )


def test_when_rasa_is_unavailable_the_apology_is_sent_and_its_wamid_logged(
    meta, rasa, graph, contact, db_session
):
    rasa.mode = "error"

    deliver(meta, webhook(messages=[text("quanto eu devo?")]))

    [sent] = graph.messages
    *_, apology, delivery = interactions(db_session)
    assert apology.event == "assistant.unavailable"
    assert sent["text"]["body"] == read_text(db_session=db_session, interaction=apology)
    assert delivery.data == {"interaction_id": apology.id, "type": "text", "wamid": "wamid.X1"}


def test_messages_and_statuses_in_one_delivery_are_all_handled(
    meta, rasa, graph, contact, db_session
):
    rasa.answer({"text": "Olá!"})
    status = {"id": "wamid.OUT9", "status": "read", "timestamp": "1", "recipient_id": WA_ID}

    deliver(
        meta,
        webhook(messages=[text("oi"), text("tudo bem?", wamid="wamid.IN2")], statuses=[status]),
    )

    assert [m["message"] for m in (r["body"] for r in rasa.received)] == ["oi", "tudo bem?"]
    assert len(graph.sent) == 2
    assert events(db_session)[0] == "message.status"
