"""Every public entry point fed garbage: a clear 4xx (or the 200 a provider needs), never a 5xx.

Garbage is what a broken or hostile sender posts: bytes that are not UTF-8, JSON of the wrong
shape, numbers past any integer, wrong types, empty bodies, and bodies over the size limit.
For each: nothing is recorded for the refused request (no interaction, contact, update,
payment or opt-out), and a valid request right after is served as usual. The signature and
secret checks themselves, and the plain 413s, are tested with each channel
(test_whatsapp, test_telegram, test_payments_webhook, test_gateway); these add what they
leave out.
"""

# The channels' fixtures are imported from their own test modules; pytest finds them by name.
# ruff: noqa: F811
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from backend.config import get_settings
from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.gateway import link_tokens
from backend.gateway.channels import webchat_sessions
from backend.gateway.channels.models import InboundUpdate
from backend.interactions.models import Interaction
from backend.payments.models import Payment
from tests import factories
from tests.payment_provider import PAYMENTS, report_payment, signed_headers
from tests.test_telegram import bot_api, telegram  # noqa: F401
from tests.test_telegram import message as telegram_message
from tests.test_whatsapp import contact, deliver, graph, meta, rasa, wa_settings  # noqa: F401
from tests.test_whatsapp import text as whatsapp_text
from tests.test_whatsapp import webhook as whatsapp_webhook

NOT_UTF8 = b"\xff\xfe\xfa\x00"
HUGE = 10**40


def count(db_session, model) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model))


def nothing_recorded(db_session) -> bool:
    return all(
        count(db_session, model) == 0
        for model in (Interaction, InboundUpdate, ChannelContact, Payment)
    )


def shrink_limits(app, **limits) -> None:
    current = app.dependency_overrides[get_settings]()
    changed = current.model_copy(update=limits)
    app.dependency_overrides[get_settings] = lambda: changed


# --- WhatsApp: Meta gets a 400 for what it signed but is not a webhook ------------------


def whatsapp_messages(*messages) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"value": {"messages": list(messages)}}]}],
    }


WHATSAPP_GARBAGE = {
    "not utf-8": NOT_UTF8,
    "json null": b"null",
    "json string": b'"whatsapp"',
    "a number past any float": b"1e999999",
    "object is a number": b'{"object": 5, "entry": []}',
    "value is a string": json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": "x"}]}]}
    ).encode(),
    "message fields of the wrong type": json.dumps(
        whatsapp_messages({"id": 1, "from": [], "type": None})
    ).encode(),
    "text body is a number": json.dumps(
        whatsapp_messages({"id": "wamid.X", "from": "5511", "type": "text", "text": {"body": 12}})
    ).encode(),
    "huge integer id": (
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": '
        b'{"messages": [{"id": ' + str(HUGE).encode() + b', "from": "1", "type": "text"}]}}]}]}'
    ),
}


@pytest.mark.parametrize("body", WHATSAPP_GARBAGE.values(), ids=WHATSAPP_GARBAGE.keys())
def test_signed_whatsapp_garbage_is_a_bad_request_and_the_next_delivery_is_answered(
    meta, rasa, graph, contact, db_session, body
):
    before = count(db_session, ChannelContact)

    refused = deliver(meta, body)

    assert refused.status_code == 400
    assert refused.json()["detail"]["reason_code"] == "malformed_payload"
    assert rasa.received == [] and graph.sent == []
    assert count(db_session, Interaction) == 0
    assert count(db_session, ChannelContact) == before
    rasa.answer({"text": "Olá!"})
    assert deliver(meta, whatsapp_webhook(messages=[whatsapp_text("oi")])).status_code == 200
    assert len(graph.sent) == 1


def test_an_oversized_whatsapp_delivery_is_refused_unread_and_the_next_is_answered(
    app, meta, rasa, graph, contact, db_session
):
    shrink_limits(app, max_webhook_body_bytes=2048)
    padded = whatsapp_webhook(messages=[whatsapp_text("oi " + "x" * 4096)])

    refused = deliver(meta, padded)

    assert refused.status_code == 413
    assert refused.json()["detail"]["reason_code"] == "body_too_large"
    assert rasa.received == [] and count(db_session, Interaction) == 0
    rasa.answer({"text": "Olá!"})
    assert deliver(meta, whatsapp_webhook(messages=[whatsapp_text("oi")])).status_code == 200
    assert len(graph.sent) == 1


# --- Telegram: everything with the right secret is answered 200, or Telegram redelivers --

TELEGRAM_GARBAGE = {
    "not utf-8": NOT_UTF8,
    "empty": b"",
    "json null": b"null",
    "json string": b'"update"',
    "update id is text": b'{"update_id": "one"}',
    "update id past any float": b'{"update_id": 1e999999}',
    "message is a string": b'{"update_id": 5, "message": "hola"}',
    "chat is a number": json.dumps(
        {"update_id": 6, "message": {"message_id": 1, "date": 0, "chat": 5, "text": "hola"}}
    ).encode(),
}


@pytest.mark.parametrize("body", TELEGRAM_GARBAGE.values(), ids=TELEGRAM_GARBAGE.keys())
def test_telegram_garbage_with_the_secret_is_acknowledged_and_nothing_is_recorded(
    telegram, rasa, bot_api, db_session, body
):
    response = telegram.post(None, raw=body)

    assert response.status_code == 200
    assert rasa.received == [] and bot_api.sent() == []
    assert nothing_recorded(db_session)
    rasa.answer({"text": "¡Hola!"})
    telegram.post(telegram.update(message=telegram_message("hola")))
    assert [m["text"] for m in bot_api.sent()] == ["¡Hola!"]


def test_an_oversized_telegram_update_is_refused_unread_and_the_next_is_answered(
    app, telegram, rasa, bot_api, db_session
):
    shrink_limits(app, max_webhook_body_bytes=2048)

    refused = telegram.post(telegram.update(message=telegram_message("x" * 4096)))

    assert refused.status_code == 413
    assert rasa.received == [] and nothing_recorded(db_session)
    rasa.answer({"text": "¡Hola!"})
    telegram.post(telegram.update(message=telegram_message("hola")))
    assert [m["text"] for m in bot_api.sent()] == ["¡Hola!"]


# --- payments: a signed body that is not a payment is a 422 naming the field ------------


def payment(debt, **changes) -> dict:
    return {
        "external_id": "psp-1",
        "debt_reference": debt.reference,
        "amount": "100.00",
        "currency": "BRL",
        "paid_at": "2026-11-20T12:00:00Z",
        "method": "pix",
        **changes,
    }


PAYMENT_GARBAGE = {
    "amount is text": ({"amount": "a hundred"}, "amount"),
    "amount is a list": ({"amount": [100]}, "amount"),
    "amount past any integer": ({"amount": HUGE}, "amount"),
    "external id is a number": ({"external_id": 5}, "external_id"),
    "currency is a number": ({"currency": 986}, "currency"),
    "paid at year 0": ({"paid_at": "0000-01-01T00:00:00Z"}, "paid_at"),
    "paid at is not a date": ({"paid_at": "yesterday"}, "paid_at"),
    "reference is null": ({"debt_reference": None}, "debt_reference"),
}


@pytest.mark.parametrize(("changes", "field"), PAYMENT_GARBAGE.values(), ids=PAYMENT_GARBAGE.keys())
def test_a_signed_payment_of_the_wrong_shape_names_the_field_and_records_nothing(
    anonymous_client, db_session, changes, field
):
    _, debt = factories.debtor_with_debt(db_session)
    db_session.commit()

    refused = report_payment(anonymous_client, payment(debt, **changes))

    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert detail["reason_code"] == "invalid_request"
    assert field in {error["field"] for error in detail["errors"]}
    assert count(db_session, Payment) == 0
    assert report_payment(anonymous_client, payment(debt)).status_code == 201


@pytest.mark.parametrize("body", [NOT_UTF8, b"", b"null", b"[]", b"1e999999", b"{"])
def test_a_signed_body_that_is_not_json_is_a_422_and_records_nothing(
    anonymous_client, db_session, body
):
    _, debt = factories.debtor_with_debt(db_session)
    db_session.commit()

    refused = anonymous_client.post(PAYMENTS, content=body, headers=signed_headers(body))

    assert refused.status_code == 422
    assert refused.json()["detail"]["reason_code"] == "invalid_request"
    assert count(db_session, Payment) == 0
    assert report_payment(anonymous_client, payment(debt)).status_code == 201


def test_an_oversized_payment_is_refused_unread_and_the_next_is_recorded(
    app, anonymous_client, db_session
):
    _, debt = factories.debtor_with_debt(db_session)
    db_session.commit()
    shrink_limits(app, max_body_bytes=1024)

    refused = report_payment(anonymous_client, payment(debt, method="x" * 2048))

    assert refused.status_code == 413
    assert count(db_session, Payment) == 0
    assert report_payment(anonymous_client, payment(debt)).status_code == 201


# --- e-mail unsubscribe links: anything but a valid token is a 404 -------------------------


@pytest.mark.parametrize(
    "token",
    [
        "x" * 5000,
        "%C3%A9t%C3%A9",
        "..%2F..%2Fetc%2Fpasswd",
        "v1.%00.abc",
        "a.b.c.d",
    ],
)
def test_a_garbage_unsubscribe_link_is_not_found_and_stops_nothing(
    anonymous_client, db_session, settings, clock, token
):
    debtor, _ = factories.debtor_with_debt(db_session)
    db_session.commit()

    for method in ("GET", "POST"):
        refused = anonymous_client.request(method, f"/unsubscribe/{token}")
        assert refused.status_code == 404, method

    db_session.expire_all()
    assert db_session.get(Debtor, debtor.id).email_opted_out_at is None
    assert count(db_session, Interaction) == 0
    valid = link_tokens.sign_debtor(debtor_id=debtor.id, secret=settings.link_token_secret)
    assert anonymous_client.post(f"/unsubscribe/{valid}").status_code == 200
    db_session.expire_all()
    assert db_session.get(Debtor, debtor.id).email_opted_out_at == clock.fixed


def test_a_signed_link_for_a_debtor_id_past_any_row_is_not_found(anonymous_client, settings):
    # Packs into the token (8 bytes, unsigned) but past SQLite's signed 64-bit INTEGER.
    token = link_tokens.sign_debtor(debtor_id=2**63 + 1, secret=settings.link_token_secret)

    assert anonymous_client.get(f"/unsubscribe/{token}").status_code == 404


# --- the web chat API: the page's own requests, malformed --------------------------------


@pytest.fixture
def chat(app, wa_settings):
    """The web chat's public API with the gateway pointed at the fake Rasa."""
    from fastapi.testclient import TestClient

    app.dependency_overrides[get_settings] = lambda: wa_settings
    with TestClient(app) as client:
        yield client


def session_id(settings) -> str:
    return webchat_sessions.issue(secret=settings.contact_signing_secret)


CHAT_GARBAGE = {
    "not utf-8": NOT_UTF8,
    "empty": b"",
    "json null": b"null",
    "a list": b"[]",
    "text is a number": b'{"session_id": "SESSION", "text": 5}',
    "text is a list": b'{"session_id": "SESSION", "text": ["oi"]}',
    "text is null": b'{"session_id": "SESSION", "text": null}',
    "text is empty": b'{"session_id": "SESSION", "text": ""}',
    "session id is a huge number": b'{"session_id": ' + str(HUGE).encode() + b', "text": "oi"}',
    "unknown language": b'{"session_id": "SESSION", "text": "oi", "language": "klingon"}',
    "a number past any float": b'{"session_id": "SESSION", "text": "oi", "language": 1e999999}',
}


@pytest.mark.parametrize("body", CHAT_GARBAGE.values(), ids=CHAT_GARBAGE.keys())
def test_a_malformed_chat_message_is_a_422_and_the_next_one_is_answered(
    chat, rasa, wa_settings, db_session, body
):
    session = session_id(wa_settings)
    body = body.replace(b"SESSION", session.encode())

    refused = chat.post(
        "/chat/api/messages", content=body, headers={"Content-Type": "application/json"}
    )

    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert detail["reason_code"] == "invalid_request" and detail["message"]
    assert rasa.received == [] and nothing_recorded(db_session)
    rasa.answer({"text": "Olá!"})
    answered = chat.post("/chat/api/messages", json={"session_id": session, "text": "oi"})
    assert answered.status_code == 200
    assert [m["text"] for m in answered.json()["messages"]] == ["Olá!"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/chat/api/sessions", NOT_UTF8),
        ("/chat/api/sessions", b'{"link": 5}'),
        ("/chat/api/sessions", b'{"language": "klingon"}'),
        ("/chat/api/sessions", b'{"link": "' + b"x" * 500 + b'"}'),
        ("/chat/api/sessions/end", b"null"),
        ("/chat/api/sessions/end", b'{"session_id": []}'),
    ],
)
def test_malformed_session_requests_are_a_422_and_create_nothing(chat, db_session, path, body):
    refused = chat.post(path, content=body, headers={"Content-Type": "application/json"})

    assert refused.status_code == 422
    assert refused.json()["detail"]["reason_code"] == "invalid_request"
    assert nothing_recorded(db_session)
    assert chat.post("/chat/api/sessions").status_code == 200
