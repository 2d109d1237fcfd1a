"""The conversation gateway and the web chat, against a fake Rasa server on a local port."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.config import Settings, get_settings
from backend.contacts.models import ChannelContact
from backend.contacts.signing import check_contact_signature
from backend.debtors.models import Debtor
from backend.enums import Channel, Language
from backend.gateway import inbound as gateway
from backend.gateway import opt_out
from backend.gateway.channels import webchat_sessions
from backend.gateway.keywords import Keyword
from backend.gateway.language import detect_language
from backend.gateway.rasa_client import RasaClient
from backend.interactions.models import Interaction
from backend.interactions.service import read_text
from tests import factories
from tests.fake_http import loopback_server, reply_json

MESSAGES = "/chat/api/messages"
# A session id as the server issues it (the test settings keep the development secret).
SESSION = webchat_sessions.issue(secret=Settings(environment="test").contact_signing_secret)
TIMEOUT_SECONDS = 0.5


class FakeRasa:
    """Rasa's REST webhook as the gateway sees it: records each request, answers as told."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.replies: list[dict] = []
        self.mode = "answer"  # or "error", "garbage", "slow"
        # Called as each request arrives; what it returns is kept in `probed`.
        self.probe: Callable[[], object] | None = None
        self.probed: list[object] = []
        self.release = threading.Event()  # ends a slow answer early at teardown
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers["Content-Length"])
                fake.received.append(
                    {"path": self.path, "body": json.loads(self.rfile.read(length))}
                )
                if fake.probe is not None:
                    fake.probed.append(fake.probe())
                if fake.mode == "slow":
                    fake.release.wait(timeout=5 * TIMEOUT_SECONDS)
                status, body = {
                    "error": (500, b'{"error": "boom"}'),
                    "garbage": (200, b'{"not": "a list"}'),
                }.get(fake.mode, (200, json.dumps(fake.replies).encode()))
                reply_json(self, status, body)

            def log_message(self, *_args) -> None:
                pass

        self.server, self.url, self.thread = loopback_server(Handler)

    def answer(self, *messages: dict) -> None:
        self.replies = [{"recipient_id": "someone", **message} for message in messages]

    @property
    def last(self) -> dict:
        return self.received[-1]["body"]


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    fake = FakeRasa()
    fake.thread.start()
    yield fake
    fake.release.set()
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(timeout=5)


@pytest.fixture
def chat(app, settings, rasa) -> Iterator[TestClient]:
    """A client without the service token, with the gateway pointed at the fake Rasa.

    The settings are overridden before the app starts: its lifespan opens the one Rasa client.
    """
    overridden = settings.model_copy(
        update={"rasa_url": rasa.url, "rasa_timeout_seconds": TIMEOUT_SECONDS}
    )
    app.dependency_overrides[get_settings] = lambda: overridden
    with TestClient(app) as client:
        yield client


def say(chat, text, *, session=SESSION, language=None):
    body = {"session_id": session, "text": text}
    if language:
        body["language"] = language
    return chat.post(MESSAGES, json=body)


def interactions(db_session) -> list[Interaction]:
    db_session.expire_all()
    return list(db_session.scalars(select(Interaction).order_by(Interaction.id)))


def contact_language(db_session, session=SESSION) -> Language | None:
    query = select(ChannelContact.language).where(ChannelContact.external_id == session)
    return db_session.scalar(query)


# --- language detection ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cuánto debo", Language.ES),
        ("fala em português?", Language.PT_BR),
        ("how much do I owe", Language.EN),
        ("vorrei pagare il mio debito", Language.IT),
        ("quanto eu devo?", None),  # Italian 0.44 against Portuguese 0.40: too close
        ("12", None),
        ("sim", None),
        ("ok", None),
        ("R$ 150", None),
        ("", None),
    ],
)
def test_detect_language(text, expected):
    assert detect_language(text) is expected


@pytest.mark.parametrize(
    ("text", "known", "expected"),
    [
        # Two words between close languages: what is known wins over the detector's guess.
        ("quero renegociar", Language.PT_BR, None),
        ("quiero pagar", Language.PT_BR, None),
        ("posso pagare domani", Language.PT_BR, None),
        # Clear evidence moves the conversation.
        ("hola quiero pagar mi deuda por favor", Language.PT_BR, Language.ES),
        ("quero pagar a minha dívida", Language.ES, Language.PT_BR),
        ("cuánto debo", Language.EN, Language.ES),  # English and Spanish are not close
        ("vorrei pagare il mio debito", Language.IT, Language.IT),
    ],
)
def test_a_known_language_weighs_more_than_a_short_guess(text, known, expected):
    assert detect_language(text, known=known) is expected


def test_two_portuguese_words_from_a_portuguese_browser_are_answered_in_portuguese(
    chat, rasa, db_session
):
    rasa.answer({"text": "ok"})

    say(chat, "quero renegociar", language="pt_BR")

    assert rasa.last["metadata"]["language"] == "pt_BR"
    assert contact_language(db_session) is None


# --- the round trip -------------------------------------------------------------------


def test_a_message_is_logged_forwarded_and_answered(chat, rasa, db_session, clock, settings):
    rasa.answer(
        {"text": "Hola. ¿Me confirmas tu identidad?"},
        {"text": "¿Seguimos?", "buttons": [{"title": "Sí", "payload": "/affirm"}]},
        {"image": "https://example.com/only-an-image.png"},  # no channel shows these yet
    )

    response = say(chat, "cuánto debo", language="en")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json() == {
        "messages": [
            {"text": "Hola. ¿Me confirmas tu identidad?", "buttons": []},
            {"text": "¿Seguimos?", "buttons": [{"title": "Sí", "payload": "/affirm"}]},
        ]
    }
    assert rasa.received[0]["path"] == "/webhooks/gateway/webhook"
    signature = rasa.last["metadata"].pop("contact_signature")
    # The turn's request id goes to Rasa (and from there to the actions' backend calls).
    assert rasa.last["metadata"].pop("request_id") == response.headers["X-Request-ID"]
    check_contact_signature(  # what the action server will show the backend for this contact
        signature,
        channel="webchat",
        external_id=SESSION,
        secret=settings.contact_signing_secret,
        now=datetime.now(timezone.utc),
    )
    assert rasa.last == {
        "sender": f"webchat:{SESSION}",
        "message": "cuánto debo",
        "metadata": {
            "channel": "webchat",
            "external_id": SESSION,
            "language": "es",
            "detected_language": "es",
            "debtor_known": False,
            "client_address": "testclient",  # for the verification guards only
        },
    }
    logged = [
        (i.event, i.direction.value, i.actor.value, read_text(db_session=db_session, interaction=i))
        for i in interactions(db_session)
    ]
    assert logged == [
        ("message.received", "inbound", "debtor", "cuánto debo"),
        ("language.changed", "internal", "debtor", None),
        ("message.sent", "outbound", "bot", "Hola. ¿Me confirmas tu identidad?"),
        ("message.sent", "outbound", "bot", "¿Seguimos?"),
    ]
    assert interactions(db_session)[-1].data == {"buttons": [{"title": "Sí", "payload": "/affirm"}]}
    contact = db_session.scalars(select(ChannelContact)).one()
    assert contact.language is Language.ES
    assert contact.last_inbound_at == clock.fixed
    assert {i.contact_id for i in interactions(db_session)} == {contact.id}


def test_portuguese_after_spanish_switches_the_language_of_contact_and_debtor(
    chat, rasa, db_session
):
    debtor = factories.debtor(
        db_session, factories.creditor(db_session), preferred_language=Language.ES
    )
    factories.contact(db_session, debtor, external_id=SESSION)
    db_session.commit()
    rasa.answer({"text": "ok"})

    say(chat, "cuánto debo")
    assert rasa.last["metadata"]["language"] == "es"
    assert rasa.last["metadata"]["debtor_known"] is True
    say(chat, "quero pagar a minha dívida")

    assert rasa.last["metadata"]["language"] == "pt_BR"
    assert rasa.last["metadata"]["detected_language"] == "pt_BR"
    assert contact_language(db_session) is Language.PT_BR
    assert db_session.scalar(select(Debtor.preferred_language)) is Language.PT_BR
    assert all(i.debtor_id == debtor.id for i in interactions(db_session))


def test_a_short_reply_keeps_the_conversation_language(chat, rasa, db_session):
    rasa.answer({"text": "ok"})
    say(chat, "cuánto debo", language="en")

    say(chat, "12", language="en")

    assert rasa.last["message"] == "12"
    assert rasa.last["metadata"]["language"] == "es"  # not the browser's English
    assert rasa.last["metadata"]["detected_language"] is None
    assert contact_language(db_session) is Language.ES


def test_the_browser_language_is_used_until_one_is_detected(chat, rasa, db_session):
    rasa.answer({"text": "ok"})

    say(chat, "12", language="it")

    assert rasa.last["metadata"]["language"] == "it"
    assert contact_language(db_session) is None  # a hint is not a detection


def test_the_language_of_a_known_debtor_comes_before_the_browser_hint(chat, rasa, db_session):
    debtor, _ = factories.debtor_with_debt(db_session)  # Brazilian Portuguese
    factories.contact(db_session, debtor, external_id=SESSION)
    db_session.commit()
    rasa.answer({"text": "ok"})

    say(chat, "ok", language="en")

    assert rasa.last["metadata"]["language"] == "pt_BR"


# --- Rasa unavailable -------------------------------------------------------------------


def stop(rasa: FakeRasa) -> None:
    """Stop the fake Rasa: its port then refuses every connection."""
    rasa.server.shutdown()
    rasa.server.server_close()


@pytest.mark.parametrize("failure", ["refused", "slow", "error", "garbage"])
def test_when_rasa_fails_the_visitor_gets_one_apology_and_the_message_is_kept(
    failure, app, settings, chat, rasa, db_session
):
    if failure == "refused":
        stop(rasa)
    else:
        rasa.mode = failure

    response = say(chat, "cuánto debo")

    assert response.status_code == 200
    [apology] = response.json()["messages"]
    assert apology["text"]
    assert apology["buttons"] == []
    logged = [
        (i.event, i.actor.value, read_text(db_session=db_session, interaction=i))
        for i in interactions(db_session)
    ]
    assert logged[0] == ("message.received", "debtor", "cuánto debo")
    assert logged[-1] == ("assistant.unavailable", "system", apology["text"])
    assert [event for event, _, _ in logged].count("message.sent") == 0


def test_the_apology_is_in_the_conversation_language(chat, rasa, db_session):
    stop(rasa)

    apologies = {}
    for language in ("pt_BR", "es", "it", "en"):
        session = chat.post("/chat/api/sessions").json()["session_id"]
        response = say(chat, "12", session=session, language=language)
        apologies[language] = response.json()["messages"][0]["text"]

    assert all(apologies.values())
    assert len(set(apologies.values())) == 4


# --- what is refused or rewritten -------------------------------------------------------


def test_a_message_too_long_is_refused_and_nothing_is_recorded(chat, rasa, db_session):
    response = say(chat, "a" * 2001)

    assert response.status_code == 422
    assert response.json()["detail"]["reason_code"] == "message_too_long"
    assert rasa.received == []
    assert interactions(db_session) == []
    assert db_session.scalars(select(ChannelContact)).all() == []


@pytest.mark.parametrize(
    "session", ["short", "x" * 65, "has spaces in it 123", "../../etc/passwd/aaaa"]
)
def test_a_malformed_session_id_is_refused(chat, rasa, session):
    response = say(chat, "hello there", session=session)

    assert response.status_code == 422
    assert rasa.received == []


def test_only_payloads_the_bot_offered_reach_rasa_as_intents(chat, rasa):
    rasa.answer({"text": "ok"})
    say(chat, "/restart")
    assert rasa.last["message"] == "restart"

    rasa.answer(
        {"text": "¿Aceptas este plan?"},
        {"buttons": [{"title": "Sí", "payload": '/affirm{"plan": "12x"}'}]},
    )
    say(chat, "quiero pagar en cuotas")
    rasa.answer({"text": "ok"})
    say(chat, '/affirm{"plan": "12x"}')
    assert rasa.last["message"] == '/affirm{"plan": "12x"}'
    assert rasa.last["metadata"]["detected_language"] is None

    say(chat, "/deny")  # offered by nobody
    assert rasa.last["message"] == "deny"
    say(chat, '  //affirm{"plan": "12x"}')  # offered two turns ago: no longer
    assert rasa.last["message"] == 'affirm{"plan": "12x"}'


# --- the page -------------------------------------------------------------------------


def test_sessions_are_random_url_safe_ids_signed_by_the_server(chat):
    first = chat.post("/chat/api/sessions").json()["session_id"]
    second = chat.post("/chat/api/sessions").json()["session_id"]

    assert first != second
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}", first)


def test_the_chat_page_and_its_assets_are_served(chat):
    page = chat.get("/chat")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert 'src="chat/static/chat.js"' in page.text
    for asset, kind in (("chat.js", "javascript"), ("chat.css", "text/css")):
        served = chat.get(f"/chat/static/{asset}")
        assert served.status_code == 200
        assert kind in served.headers["content-type"]
    assert "innerHTML" not in chat.get("/chat/static/chat.js").text


def test_ui_strings_come_in_every_language(chat):
    answers = {
        language: chat.get("/chat/api/ui-strings", params={"language": language}).json()
        for language in ("pt_BR", "es", "it", "en")
    }

    keys = set(answers["en"]["strings"])
    assert {"title", "placeholder", "send", "typing", "text_only", "error", "too_long"} <= keys
    for language, answer in answers.items():
        assert answer["language"] == language
        assert answer["max_message_chars"] == 2000
        assert set(answer["strings"]) == keys
        assert all(answer["strings"].values())
        too_long = answer["strings"]["too_long"]
        assert "2" in too_long and "{limit}" not in too_long
    titles = {answer["strings"]["title"] for answer in answers.values()}
    assert len(titles) == 4
    assert chat.get("/chat/api/ui-strings", params={"language": "de"}).status_code == 422


def test_the_chat_opens_with_the_assistants_greeting_in_the_browsers_language(chat):
    greetings = {
        language: chat.get("/chat/api/ui-strings", params={"language": language}).json()["greeting"]
        for language in ("pt_BR", "es", "it", "en")
    }

    for language, greeting in greetings.items():
        hello, privacy = greeting
        assert "Aurora Crédito" in hello["text"], language
        assert privacy["text"], language
        assert [b["title"] for b in privacy["buttons"]] == [
            b["payload"] for b in privacy["buttons"]
        ]
        assert len(privacy["buttons"]) == 3
    assert greetings["pt_BR"][0]["text"].startswith("Olá")
    assert len({g[1]["text"] for g in greetings.values()}) == 4


# --- STOP and START, before Rasa --------------------------------------------------------


@pytest.fixture
def rasa_down(rasa):
    """The fake Rasa stopped: its port refuses every connection."""
    stop(rasa)
    return rasa


def opted_out(db_session, session=SESSION) -> bool:
    db_session.expire_all()
    query = select(ChannelContact.opted_out_at).where(ChannelContact.external_id == session)
    return db_session.scalar(query) is not None


@pytest.mark.parametrize(
    ("text", "language", "start"),
    [
        ("STOP", "en", "START"),
        ("unsubscribe", "en", "START"),
        ("Pare!", "pt_BR", "VOLTAR"),
        (" sair. ", "pt_BR", "VOLTAR"),
        ("Cancelar", "pt_BR", "VOLTAR"),
        ("¡Baja!", "es", "ALTA"),
        ("alto", "es", "ALTA"),
        ("Basta", "it", "RIPRENDI"),
        ("cancèlla", "it", "RIPRENDI"),
    ],
)
def test_stop_in_each_language_is_honoured_and_recorded_while_rasa_is_down(
    chat, rasa_down, db_session, text, language, start
):
    response = say(chat, text, language=language)

    assert response.status_code == 200
    [confirmation] = response.json()["messages"]
    assert start in confirmation["text"]  # says how to opt back in
    assert (
        confirmation["text"]
        == opt_out.confirmation(Keyword.OPT_OUT, Language(language), bound_to_debtor=False)[0].text
    )
    assert opted_out(db_session)
    logged = [
        (i.event, read_text(db_session=db_session, interaction=i)) for i in interactions(db_session)
    ]
    assert logged == [
        ("message.received", text),
        ("contact.opted_out", None),
        ("message.sent", confirmation["text"]),
    ]
    assert rasa_down.received == []


def test_the_confirmations_are_translated():
    texts = {
        opt_out.confirmation(keyword, language, bound_to_debtor=True)[0].text
        for keyword in Keyword
        for language in Language
    }

    assert len(texts) == len(Keyword) * len(Language)


def test_a_shared_keyword_answers_in_the_conversation_language(chat, rasa_down, db_session):
    response = say(chat, "PARAR", language="es")

    assert "ALTA" in response.json()["messages"][0]["text"]


def test_start_opts_back_in_without_rasa(chat, rasa_down, db_session):
    say(chat, "pare")

    response = say(chat, "Voltar!")

    assert not opted_out(db_session)
    [welcome] = response.json()["messages"]
    assert "PARAR" in welcome["text"]  # says how to stop again
    events = [i.event for i in interactions(db_session)]
    assert events[-3:] == ["message.received", "contact.opted_in", "message.sent"]
    assert rasa_down.received == []


def test_start_from_a_contact_that_never_stopped_is_a_message_for_rasa(chat, rasa, db_session):
    rasa.answer({"text": "Hi!"})

    response = say(chat, "/start")

    assert response.json()["messages"] == [{"text": "Hi!", "buttons": []}]
    assert rasa.last["message"] == "start"


@pytest.mark.parametrize(
    "text", ["stop calling me at night please", "stop it", "não quero parar de pagar", "STOP?!x"]
)
def test_a_sentence_with_a_keyword_in_it_still_goes_to_rasa(chat, rasa, db_session, text):
    rasa.answer({"text": "ok"})

    say(chat, text)

    assert rasa.last["message"] == text
    assert not opted_out(db_session)


def test_a_known_debtor_is_offered_to_stop_on_every_channel(chat, rasa_down, db_session):
    debtor, _ = factories.debtor_with_debt(db_session)
    factories.contact(db_session, debtor, external_id=SESSION)
    telegram = factories.contact(db_session, debtor, channel=Channel.TELEGRAM, external_id="42")
    stranger = factories.contact(db_session, None, channel=Channel.TELEGRAM, external_id="43")
    db_session.commit()

    first = say(chat, "STOP", language="pt_BR").json()["messages"]

    [button] = first[-1]["buttons"]
    assert button["payload"] == "PARAR TUDO"
    assert not opted_out(db_session, telegram.external_id)

    everywhere = say(chat, button["payload"]).json()["messages"]

    assert opted_out(db_session, SESSION) and opted_out(db_session, telegram.external_id)
    assert not opted_out(db_session, stranger.external_id)
    assert "VOLTAR" in everywhere[0]["text"]
    scopes = [
        (i.channel.value, i.data)
        for i in interactions(db_session)
        if i.event == "contact.opted_out"
    ]
    assert scopes == [
        ("webchat", {}),
        ("telegram", {"scope": "all_channels", "requested_on": "webchat"}),
    ]
    assert rasa_down.received == []


@pytest.mark.parametrize("channel", [Channel.TELEGRAM, Channel.WHATSAPP])
def test_stop_on_telegram_and_whatsapp_needs_no_rasa(db_session, rasa_down, clock, channel):
    async def send_stop():
        async with RasaClient(base_url=rasa_down.url, timeout_seconds=TIMEOUT_SECONDS) as client:
            return await gateway.handle_inbound(
                db_session=db_session,
                channel=channel,
                external_id="5511999990000",
                text="Parar",
                language_hint=None,
                rasa=client,
                now=clock.now(),
            )

    [confirmation] = asyncio.run(send_stop())

    assert "VOLTAR" in confirmation.text
    contact = db_session.scalars(select(ChannelContact)).one()
    assert contact.channel is channel and contact.opted_out_at == clock.fixed


# --- limits -----------------------------------------------------------------------------


def override_settings(app, **update) -> None:
    current = app.dependency_overrides[get_settings]()
    changed = current.model_copy(update=update)
    app.dependency_overrides[get_settings] = lambda: changed


@pytest.mark.parametrize(
    "path",
    [
        MESSAGES,
        "/chat/api/sessions",
        "/channels/telegram/webhook",
        "/channels/whatsapp/webhook",
        "/api/v1/payments",
    ],
)
def test_a_body_over_the_limit_is_refused_before_it_is_read(app, settings, chat, rasa, path):
    override_settings(app, max_body_bytes=1024, max_webhook_body_bytes=2048)
    size = 2049 if path.startswith("/channels/") else 1025

    response = chat.post(path, content=b"x" * size, headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert response.json()["detail"]["reason_code"] == "body_too_large"
    assert rasa.received == []


def test_a_streamed_body_is_cut_off_at_the_limit(app, settings, chat, rasa, db_session):
    override_settings(app, max_body_bytes=1024)
    body = json.dumps({"session_id": SESSION, "text": "a" * 2000}).encode()

    def chunks():  # no Content-Length: the body is sent chunked
        yield body[:600]
        yield body[600:]

    response = chat.post(MESSAGES, content=chunks(), headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert rasa.received == []
    assert interactions(db_session) == []


def test_a_body_within_the_limit_is_served(chat, rasa):
    rasa.answer({"text": "ok"})

    response = say(chat, "a" * 1900)  # 64 KiB by default

    assert response.status_code == 200


def test_the_web_chat_api_is_rate_limited_per_address(app, settings, chat, rasa):
    override_settings(app, webchat_rate_limit="3/minute")
    rasa.answer({"text": "ok"})
    other = TestClient(app, client=("203.0.113.9", 50000))

    allowed = [say(chat, "hello").status_code for _ in range(3)]
    refused = chat.post(
        MESSAGES,
        json={"session_id": SESSION, "text": "hello"},
        headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.8"},
    )
    sessions = chat.post("/chat/api/sessions")

    assert allowed == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    detail = refused.json()["detail"]
    assert detail["reason_code"] == "rate_limited"
    assert detail["message"].startswith("Você está enviando")
    assert sessions.status_code == 429
    assert other.post("/chat/api/sessions").status_code == 200  # another address
    assert len(rasa.received) == 3


def test_a_session_id_the_server_did_not_issue_is_refused(chat, rasa, db_session):
    rasa.answer({"text": "ok"})

    for chosen in ("my-own-session-id-123456", SESSION[:-1] + "x", "a" * 24 + "." + "b" * 22):
        response = say(chat, "hello", session=chosen)
        assert response.status_code == 422
        assert response.json()["detail"]["reason_code"] == "session_invalid"
    assert rasa.received == []
    issued = chat.post("/chat/api/sessions").json()["session_id"]
    assert say(chat, "hello", session=issued).status_code == 200


def test_ending_the_conversation_forgets_the_verification(chat, rasa, db_session, clock):
    debtor, _ = factories.debtor_with_debt(db_session)
    factories.contact(db_session, debtor, external_id=SESSION, verified_at=clock.fixed)
    db_session.commit()

    response = chat.post("/chat/api/sessions/end", json={"session_id": SESSION})

    assert response.status_code == 204
    db_session.expire_all()
    contact = db_session.scalars(
        select(ChannelContact).where(ChannelContact.external_id == SESSION)
    ).one()
    assert contact.verified_at is None
    assert "conversation.ended" in [i.event for i in interactions(db_session)]
    refused = chat.post("/chat/api/sessions/end", json={"session_id": "chosen-by-me"})
    assert refused.status_code == 422


# --- several Rasa instances -------------------------------------------------------------


def test_a_conversation_stays_on_its_rasa_instance_and_moves_when_it_is_down():
    first, second = FakeRasa(), FakeRasa()
    for fake in (first, second):
        fake.thread.start()
        fake.answer({"text": "Olá"})
    base_url = f"{first.url}, {second.url}"

    async def say(sender_id: str, client: RasaClient) -> None:
        await client.send(sender_id=sender_id, text="oi", metadata={})

    async def conversation_twice(sender_id: str) -> None:
        async with RasaClient(base_url=base_url, timeout_seconds=TIMEOUT_SECONDS) as client:
            await say(sender_id, client)
            await say(sender_id, client)

    senders = [f"webchat:visitor-{n}" for n in range(12)]
    try:
        for sender in senders:
            asyncio.run(conversation_twice(sender))
        by_instance = [{r["body"]["sender"] for r in fake.received} for fake in (first, second)]
        # Each conversation was served by one instance only, and both instances served some.
        assert by_instance[0] and by_instance[1] and not by_instance[0] & by_instance[1]
        moved = sorted(by_instance[0])[0]
        stop(first)

        asyncio.run(conversation_twice(moved))

        assert [r["body"]["sender"] for r in second.received].count(moved) == 2
    finally:
        stop(second)


def test_a_turn_waiting_on_rasa_holds_no_database_connection(chat, rasa, engine, db_session):
    """While Rasa works, its actions call the API, which needs connections of the same pool."""
    debtor, _ = factories.debtor_with_debt(db_session)
    factories.contact(db_session, debtor, external_id=SESSION)
    db_session.commit()
    db_session.close()  # the test's own session gives its connection back too
    rasa.answer({"text": "Olá"})
    rasa.probe = engine.pool.checkedout

    say(chat, "oi, quanto eu devo?")
    say(chat, "e quando vence?")

    assert rasa.probed == [0, 0]
