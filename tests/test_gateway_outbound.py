"""Messages the assistant starts: the web chat shows them live, a reply continues in the bot,
an e-mailed link opens a web chat bound to the debtor, and e-mail can be stopped by its link.

Against a fake Rasa (tests/test_gateway.py), the development mailbox and small SMTP servers
that refuse, all on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import anyio
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.campaigns import cadence
from backend.config import get_settings
from backend.contacts.models import ChannelContact
from backend.db import session_factory
from backend.enums import Language
from backend.gateway import inbound, link_tokens
from backend.gateway.channels import build_adapters, webchat
from backend.gateway.channels.base import (
    OutboundText,
    PermanentSendError,
    Recipient,
    TransientSendError,
)
from backend.gateway.channels.email import EmailAdapter, unsubscribe_link
from backend.gateway.channels.webchat import WebchatAdapter, webchat_link
from backend.gateway.models import MessageKind, OutboundChannel, OutboxMessage, OutboxStatus
from backend.gateway.rasa_client import Button
from backend.outbound.dev_mailbox import DevMailbox
from backend.verification.service import possessed_debtor
from locales import translate
from tests import factories
from tests.test_gateway import SESSION, TIMEOUT_SECONDS, FakeRasa, interactions, say

MESSAGES = "/chat/api/messages"
PLAN = Button(title="Quero parcelar", payload="/request_payment_plan")


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
    overridden = settings.model_copy(
        update={"rasa_url": rasa.url, "rasa_timeout_seconds": TIMEOUT_SECONDS}
    )
    app.dependency_overrides[get_settings] = lambda: overridden
    with TestClient(app) as client:
        yield client


def sent_reminder(db_session, debtor, debt, clock, *, contact=None, ago=timedelta(hours=1)):
    """An outbox reminder the sender delivered `ago` (to `contact`, or by e-mail)."""
    message = OutboxMessage(
        dedupe_key=f"reminder:{debt.id}:1:{clock.fixed.date().isoformat()}",
        kind=MessageKind.REMINDER,
        debtor_id=debtor.id,
        debt_id=debt.id,
        level=1,
        scheduled_for=clock.fixed.date(),
        not_before=clock.fixed - ago,
        status=OutboxStatus.SENT,
        channel=OutboundChannel.WEBCHAT if contact else OutboundChannel.EMAIL,
        contact_id=contact.id if contact else None,
        sent_at=clock.fixed - ago,
    )
    db_session.add(message)
    db_session.flush()
    return message


def poll(chat, session=SESSION, after=0):
    return chat.get(MESSAGES, params={"after": after}, headers={"X-Chat-Session": session})


def deliver(adapter, recipient, message) -> str:
    async def go() -> str:
        try:
            return await adapter.send(recipient, message)
        finally:
            await adapter.aclose()

    return anyio.run(go)


def to_webchat(contact) -> Recipient:
    return Recipient(
        channel=OutboundChannel.WEBCHAT,
        address=contact.external_id,
        contact_id=contact.id,
        language="pt_BR",
        debtor_id=contact.debtor_id,
    )


# --- the web chat shows what the assistant starts -----------------------------------------


def test_a_reminder_stored_by_the_adapter_shows_up_in_the_page_once(
    chat, rasa, engine, db_session, settings, clock
):
    debtor, debt = factories.debtor_with_debt(db_session)
    contact = factories.contact(db_session, debtor, external_id=SESSION)
    reminder = sent_reminder(db_session, debtor, debt, clock, contact=contact)
    db_session.commit()
    adapter = WebchatAdapter(settings, open_session=session_factory(engine))
    text = OutboundText(
        text="Ana, sua parcela vence amanhã.",
        buttons=[PLAN],
        outbox_id=reminder.id,
        kind="reminder",
    )

    provider_id = deliver(adapter, to_webchat(contact), text)

    first = poll(chat).json()
    assert first["messages"] == [
        {
            "id": int(provider_id),
            "text": "Ana, sua parcela vence amanhã.",
            "buttons": [{"title": "Quero parcelar", "payload": "/request_payment_plan"}],
        }
    ]
    assert first["cursor"] == int(provider_id)
    assert poll(chat, after=first["cursor"]).json() == {"messages": [], "cursor": first["cursor"]}
    # The sender records every delivered message too: once is enough.
    inbound.record_outbound(db_session, contact, text.text, [PLAN], "reminder", reminder.id)
    db_session.commit()
    assert [i.event for i in interactions(db_session)].count("message.sent") == 1
    # The bot's answers to what the page posts are shown by the page, not by the poll.
    rasa.answer({"text": "Claro, vamos ver."})
    say(chat, "oi tudo bem")
    assert poll(chat, after=first["cursor"]).json()["messages"] == []


def test_polling_needs_a_session_the_server_issued(chat):
    assert chat.get(MESSAGES).status_code == 422
    forged = poll(chat, session="a" * 24 + "." + "b" * 22)
    assert forged.status_code == 422
    assert forged.json()["detail"]["reason_code"] == "session_invalid"
    assert poll(chat).json() == {"messages": [], "cursor": 0}  # issued, nothing written yet


def test_the_web_chat_adapter_refuses_an_unknown_session_for_good(engine, settings):
    adapter = WebchatAdapter(settings, open_session=session_factory(engine))
    nobody = Recipient(OutboundChannel.WEBCHAT, address="gone", contact_id=None, language="en")

    with pytest.raises(PermanentSendError, match="no_contact"):
        deliver(adapter, nobody, OutboundText(text="hello"))


def test_build_adapters_gives_every_channel_and_says_which_are_configured(settings):
    adapters = build_adapters(settings)

    assert set(adapters) == set(OutboundChannel)
    assert all(channel is adapter.channel for channel, adapter in adapters.items())
    available = {channel for channel, adapter in adapters.items() if adapter.available()}
    assert available == {OutboundChannel.WEBCHAT}  # no bot token, Graph API or SMTP server


# --- a reply to a reminder continues with its debt -----------------------------------------


def event_text(debt) -> str:
    entities = {"debt_reference": debt.reference, "reminder_kind": "reminder"}
    return f"/EXTERNAL_reminder{json.dumps(entities)}"


def test_a_reply_to_a_reminder_first_tells_rasa_which_debt_it_answers(
    chat, rasa, db_session, clock
):
    debtor, debt = factories.debtor_with_debt(db_session)
    contact = factories.contact(db_session, debtor, external_id=SESSION)
    reminder = sent_reminder(db_session, debtor, debt, clock, contact=contact)
    inbound.record_outbound(
        db_session, contact, "Ana, sua parcela vence amanhã.", [PLAN], MessageKind.REMINDER,
        reminder.id,
    )  # fmt: skip
    db_session.commit()
    rasa.answer({"text": "Vamos montar um plano."})

    response = say(chat, "/request_payment_plan")

    event, reply = (request["body"] for request in rasa.received)
    assert event["message"] == event_text(debt)
    assert reply["message"] == "/request_payment_plan"  # the reminder's own button
    assert event["sender"] == reply["sender"] == f"webchat:{SESSION}"
    for request in (event, reply):
        request["metadata"].pop("contact_signature")
    assert event["metadata"] == reply["metadata"]
    assert response.json()["messages"] == [{"text": "Vamos montar um plano.", "buttons": []}]

    say(chat, "sim, quero parcelar")  # the context is set: no second event

    assert [r["body"]["message"] for r in rasa.received][2:] == ["sim, quero parcelar"]


def test_a_reminder_the_sender_did_not_record_still_sets_the_context(chat, rasa, db_session, clock):
    debtor, debt = factories.debtor_with_debt(db_session)
    contact = factories.contact(
        db_session, debtor, external_id=SESSION, last_inbound_at=clock.fixed - timedelta(days=2)
    )
    sent_reminder(db_session, debtor, debt, clock, contact=contact)
    db_session.commit()
    rasa.answer({"text": "ok"})

    say(chat, "sim, quero parcelar")

    assert [r["body"]["message"] for r in rasa.received] == [
        event_text(debt),
        "sim, quero parcelar",
    ]


def test_a_reminder_older_than_the_last_message_sets_no_context(chat, rasa, db_session, clock):
    debtor, debt = factories.debtor_with_debt(db_session)
    contact = factories.contact(
        db_session, debtor, external_id=SESSION, last_inbound_at=clock.fixed - timedelta(minutes=5)
    )
    sent_reminder(db_session, debtor, debt, clock, contact=contact, ago=timedelta(days=1))
    db_session.commit()
    rasa.answer({"text": "ok"})

    say(chat, "sim, quero parcelar")

    assert [r["body"]["message"] for r in rasa.received] == ["sim, quero parcelar"]


# --- the web chat link of an e-mailed reminder ----------------------------------------------


@pytest.fixture
def rendered(monkeypatch):
    """The campaign renderer's answer for the replayed reminder."""
    calls = []

    def render(db_session, message, **kwargs):
        calls.append((message.id, kwargs["language"], kwargs["channel"]))
        return SimpleNamespace(text="Olá Ana, sua parcela vence amanhã.", buttons=[PLAN])

    monkeypatch.setattr(webchat, "render_reminder", render)
    return calls


def link_token(settings, debtor, clock) -> str:
    url = webchat_link(settings, debtor.id, clock.fixed)
    assert url.startswith(f"{settings.public_base_url}/chat?link=")
    return url.split("?link=", 1)[1]


def test_the_link_opens_a_session_bound_to_the_debtor_with_the_reminder_first(
    chat, rasa, db_session, settings, clock, rendered
):
    debtor, debt = factories.debtor_with_debt(db_session)
    reminder = sent_reminder(db_session, debtor, debt, clock)  # sent by e-mail
    db_session.commit()
    token = link_token(settings, debtor, clock)

    assert chat.get("/chat", params={"link": token}).status_code == 200
    opened = chat.post("/chat/api/sessions", json={"link": token, "language": "pt_BR"}).json()

    assert opened["notice"] is None
    contact = db_session.scalars(
        select(ChannelContact).where(ChannelContact.external_id == opened["session_id"])
    ).one()
    assert (contact.debtor_id, contact.linked_at) == (debtor.id, clock.fixed)
    assert contact.verified_at is None  # verification is still asked for
    assert possessed_debtor(db_session=db_session, contact=contact) is None
    assert rendered == [(reminder.id, "pt_BR", OutboundChannel.WEBCHAT)]
    [shown] = poll(chat, session=opened["session_id"]).json()["messages"]
    assert shown["text"] == "Olá Ana, sua parcela vence amanhã."
    assert shown["buttons"] == [PLAN.model_dump()]
    rasa.answer({"text": "ok"})

    say(chat, PLAN.payload, session=opened["session_id"])

    assert [r["body"]["message"] for r in rasa.received] == [event_text(debt), PLAN.payload]


def test_a_link_works_once_and_only_as_issued(chat, db_session, settings, clock, rendered):
    debtor, _ = factories.debtor_with_debt(db_session)
    db_session.commit()
    token = link_token(settings, debtor, clock)
    expired = link_tokens.issue(
        debtor_id=debtor.id,
        secret=settings.link_token_secret,
        ttl_minutes=5,
        now=clock.fixed - timedelta(hours=1),
        purpose=link_tokens.WEBCHAT,
    ).token
    telegram = link_tokens.issue(
        debtor_id=debtor.id, secret=settings.link_token_secret, ttl_minutes=5, now=clock.fixed
    ).token

    def open_with(link):
        return chat.post("/chat/api/sessions", json={"link": link}).json()

    assert open_with(token)["notice"] is None
    notices = [open_with(link)["notice"] for link in (token, expired, telegram, "garbage!")]

    assert notices == [
        translate("en", link_tokens.REFUSALS[reason])
        for reason in ("used", "expired", "forged", "forged")
    ]
    bound = db_session.scalars(
        select(ChannelContact).where(ChannelContact.debtor_id == debtor.id)
    ).all()
    assert len(bound) == 1
    assert rendered == []  # no reminder was sent yet: nothing to replay


# --- e-mail: sent with its unsubscribe link, which stops e-mail --------------------------------


@pytest.fixture
def mailbox() -> Iterator[DevMailbox]:
    server = DevMailbox(port=free_port()).start()
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def smtp(settings, host: str, port: int):
    return settings.model_copy(
        update={"smtp_host": host, "smtp_port": port, "smtp_security": "none"}
    )


def to_email(debtor) -> Recipient:
    return Recipient(
        channel=OutboundChannel.EMAIL,
        address=debtor.email,
        contact_id=None,
        language="pt_BR",
        debtor_id=debtor.id,
    )


def test_an_email_carries_its_unsubscribe_link_in_the_header_and_the_body(
    db_session, settings, mailbox
):
    debtor, _ = factories.debtor_with_debt(db_session)
    db_session.commit()
    configured = smtp(settings, mailbox.host, mailbox.port)
    message = OutboundText(text="Olá Ana, sua parcela vence amanhã.", subject="Lembrete")

    message_id = deliver(EmailAdapter(configured), to_email(debtor), message)

    [mail] = mailbox.to(debtor.email)
    link = unsubscribe_link(configured, debtor.id)
    assert mail.subject == "Lembrete"
    assert mail.body.startswith("Olá Ana, sua parcela vence amanhã.")
    assert link in mail.body
    assert mail.headers["List-Unsubscribe"].strip() == f"<{link}>"  # folded: a long line
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.headers["Message-ID"] == message_id


def test_a_body_that_already_has_the_link_gets_no_second_one(db_session, settings, mailbox):
    debtor, _ = factories.debtor_with_debt(db_session)
    db_session.commit()
    configured = smtp(settings, mailbox.host, mailbox.port)
    link = unsubscribe_link(configured, debtor.id)

    deliver(EmailAdapter(configured), to_email(debtor), OutboundText(text=f"Stop: {link}"))

    assert mailbox.to(debtor.email)[0].body.count(link) == 1


class Refusing:
    """An SMTP server that answers every recipient with `reply`."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_RCPT(self, _server, _session, _envelope, _address, _options) -> str:  # noqa: N802
        return self.reply


@pytest.mark.parametrize(
    ("reply", "error", "reason"),
    [
        ("550 5.1.1 no such mailbox", PermanentSendError, "smtp_refused"),
        ("451 4.3.0 try again later", TransientSendError, "smtp_deferred"),
    ],
)
def test_smtp_refusals_are_permanent_for_5xx_and_transient_for_4xx(
    db_session, settings, reply, error, reason
):
    debtor, _ = factories.debtor_with_debt(db_session)
    db_session.commit()
    server = Controller(Refusing(reply), hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        with pytest.raises(error) as failed:
            deliver(
                EmailAdapter(smtp(settings, "127.0.0.1", server.port)),
                to_email(debtor),
                OutboundText(text="hello"),
            )
    finally:
        server.stop()

    assert failed.value.reason == reason
    assert debtor.email not in str(failed.value)


def test_an_unreachable_smtp_server_is_transient_and_none_configured_permanent(
    db_session, settings
):
    debtor, _ = factories.debtor_with_debt(db_session)
    db_session.commit()

    with pytest.raises(TransientSendError, match="smtp_unreachable"):
        deliver(
            EmailAdapter(smtp(settings, "127.0.0.1", free_port())),
            to_email(debtor),
            OutboundText(text="hello"),
        )
    with pytest.raises(PermanentSendError, match="not_configured"):
        deliver(EmailAdapter(settings), to_email(debtor), OutboundText(text="hello"))


def test_the_unsubscribe_link_stops_email_once_and_says_so(
    anonymous_client, db_session, settings, clock
):
    debtor, _ = factories.debtor_with_debt(db_session)
    debtor.preferred_language = Language.EN
    db_session.commit()
    path = unsubscribe_link(settings, debtor.id).removeprefix(settings.public_base_url)

    first = anonymous_client.get(path)
    again = anonymous_client.get(path)

    assert first.status_code == again.status_code == 200
    assert "no more e-mails" in first.text
    assert first.headers["content-type"].startswith("text/html")
    db_session.expire_all()
    assert debtor.email_opted_out_at == clock.fixed
    events = [i.event for i in interactions(db_session)]
    assert events == ["debtor.email_opted_out"]  # following it twice changes nothing more


def test_one_click_unsubscribe_and_forged_links(anonymous_client, db_session, settings, clock):
    debtor, _ = factories.debtor_with_debt(db_session)
    db_session.commit()
    token = link_tokens.sign_debtor(debtor_id=debtor.id, secret=settings.link_token_secret)
    forged = link_tokens.sign_debtor(debtor_id=debtor.id, secret="someone-else")

    assert anonymous_client.get(f"/unsubscribe/{forged}").status_code == 404
    assert anonymous_client.get("/unsubscribe/not-a-token").status_code == 404
    db_session.expire_all()
    assert debtor.email_opted_out_at is None

    assert anonymous_client.post(f"/unsubscribe/{token}").status_code == 200
    db_session.expire_all()
    assert debtor.email_opted_out_at == clock.fixed
    assert db_session.scalars(select(ChannelContact)).all() == []  # e-mail has no contact


def test_the_senders_record_after_a_web_chat_delivery_adds_nothing(
    chat, engine, db_session, settings, clock
):
    debtor, debt = factories.debtor_with_debt(db_session)
    contact = factories.contact(db_session, debtor, external_id=SESSION)
    reminder = sent_reminder(db_session, debtor, debt, clock, contact=contact)
    db_session.commit()
    recipient = to_webchat(contact)
    adapter = WebchatAdapter(settings, open_session=session_factory(engine))
    # The sender's message: no outbox id on it; the id of the stored entry comes back.
    provider_id = deliver(adapter, recipient, OutboundText(text="Lembrete", buttons=[PLAN]))

    inbound.record_outbound(
        db_session,
        message=reminder,
        recipient=recipient,
        rendered=SimpleNamespace(text="Lembrete", buttons=[PLAN]),
        provider_message_id=provider_id,
        now=clock.fixed,
    )
    db_session.commit()

    assert [m["id"] for m in poll(chat).json()["messages"]] == [int(provider_id)]


def test_the_senders_record_of_an_email_is_kept_for_the_debtor(db_session, clock):
    debtor, debt = factories.debtor_with_debt(db_session)
    reminder = sent_reminder(db_session, debtor, debt, clock)

    logged = inbound.record_outbound(
        db_session,
        message=reminder,
        recipient=to_email(debtor),
        rendered=SimpleNamespace(text="Olá Ana", buttons=[]),
        provider_message_id="<1@acordo>",
        now=clock.fixed,
    )
    db_session.commit()

    assert (logged.contact_id, logged.debtor_id, logged.debt_id) == (None, debtor.id, debt.id)
    assert logged.data["channel"] == "email"
    assert logged.data["outbox_id"] == reminder.id


def test_without_the_debtor_the_link_in_the_body_is_the_unsubscribe_header(
    db_session, settings, mailbox
):
    debtor, _ = factories.debtor_with_debt(db_session)
    db_session.commit()
    configured = smtp(settings, mailbox.host, mailbox.port)
    link = unsubscribe_link(configured, debtor.id)
    anonymous = Recipient(OutboundChannel.EMAIL, debtor.email, None, "pt_BR")

    deliver(EmailAdapter(configured), anonymous, OutboundText(text=f"Olá. Parar: {link}"))
    with pytest.raises(PermanentSendError, match="no_unsubscribe_link"):
        deliver(EmailAdapter(configured), anonymous, OutboundText(text="Olá."))

    [mail] = mailbox.to(debtor.email)
    assert mail.headers["List-Unsubscribe"].strip() == f"<{link}>"


def test_the_replayed_reminder_is_the_campaigns_own_text(chat, db_session, settings, clock):
    creditor = factories.creditor(db_session, name="Aurora Crédito")
    cadence.seed_defaults(db_session, creditor)
    debtor = factories.debtor(db_session, creditor, preferred_language=Language.EN)
    debt = factories.debt(db_session, debtor)
    sent_reminder(db_session, debtor, debt, clock)
    db_session.commit()

    opened = chat.post("/chat/api/sessions", json={"link": link_token(settings, debtor, clock)})

    [shown] = poll(chat, session=opened.json()["session_id"]).json()["messages"]
    assert "Aurora Crédito" in shown["text"]
