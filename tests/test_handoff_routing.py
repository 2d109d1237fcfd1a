"""While a person owns a conversation no message reaches Rasa; the debtor is told once, and when.

Through the web chat's API against the fake Rasa of test_gateway, with a frozen clock inside
and outside the staff's business hours (Monday to Friday, 09:00-18:00 in São Paulo).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.config import Settings, get_settings
from backend.contacts.models import ChannelContact
from backend.enums import Channel, Language
from backend.gateway import inbound as gateway
from backend.gateway.rasa_client import BotMessage
from backend.handoffs import routing
from backend.handoffs import service as handoffs
from backend.handoffs.models import Handoff, HandoffStatus
from backend.interactions.models import Interaction
from backend.interactions.service import read_text
from tests import factories
from tests.test_gateway import SESSION, TIMEOUT_SECONDS, FakeRasa, say
from tests.test_handoffs import staff_member

# A Wednesday, 12:00 in São Paulo; and a Friday, 19:00 there (the team is back on Monday).
WITHIN_HOURS = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)
AFTER_HOURS = datetime(2026, 12, 4, 22, 0, tzinfo=timezone.utc)


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


def debtor_on_webchat(db_session, *, language=Language.PT_BR, verified_at=None):
    owner = factories.creditor(db_session)
    person = factories.debtor(db_session, owner, preferred_language=language)
    contact = factories.contact(
        db_session, person, external_id=SESSION, language=language, verified_at=verified_at
    )
    db_session.commit()
    return contact


def escalated(db_session, contact, reason="request_human") -> Handoff:
    handoff = handoffs.escalate(db_session, contact=contact, reason=reason, now=WITHIN_HOURS)
    db_session.commit()
    return handoff


def received_texts(db_session) -> list[str]:
    db_session.expire_all()
    query = select(Interaction).where(Interaction.event == gateway.RECEIVED)
    return [read_text(db_session=db_session, interaction=i) for i in db_session.scalars(query)]


def test_no_message_reaches_rasa_while_a_person_owns_the_conversation(
    chat, rasa, db_session, clock, settings
):
    clock.fixed = WITHIN_HOURS
    verified_at = datetime(2026, 12, 2, 14, 55, tzinfo=timezone.utc)
    contact = debtor_on_webchat(db_session, verified_at=verified_at)
    handoff = escalated(db_session, contact)
    rasa.answer({"text": "Olá de novo!"})

    first = say(chat, "oi, tem alguém aí?").json()["messages"]
    second = say(chat, "alô?").json()["messages"]
    handoffs.assign(db_session, handoff=handoff, staff=staff_member(db_session), now=clock.fixed)
    db_session.commit()
    third = say(chat, "preciso de ajuda com meu acordo").json()["messages"]

    expected = routing.notice(language=Language.PT_BR, settings=Settings(), now=WITHIN_HOURS)
    assert first == [{"text": expected, "buttons": []}]
    assert "15" in expected
    assert second == [] and third == []
    assert rasa.received == []
    assert received_texts(db_session) == [
        "oi, tem alguém aí?",
        "alô?",
        "preciso de ajuda com meu acordo",
    ]
    db_session.refresh(handoff)
    assert handoff.debtor_told_at == WITHIN_HOURS

    handoffs.hand_back(
        db_session, handoff=handoff, staff=staff_member(db_session, "Caio"), now=clock.fixed
    )
    db_session.commit()
    after = say(chat, "qual é o meu saldo?").json()["messages"]

    assert after == [{"text": "Olá de novo!", "buttons": []}]
    assert [r["body"]["message"] for r in rasa.received] == ["qual é o meu saldo?"]
    db_session.refresh(contact)
    # Context kept: the bot resumes in the same language, still verified.
    assert contact.language is Language.PT_BR and contact.verified_at == verified_at


def test_a_debtor_a_person_already_answered_is_not_told_someone_will_answer(
    chat, rasa, db_session, clock
):
    clock.fixed = WITHIN_HOURS
    contact = debtor_on_webchat(db_session)
    handoff = escalated(db_session, contact)
    agent = staff_member(db_session)
    handoffs.assign(db_session, handoff=handoff, staff=agent, now=clock.fixed)
    handoffs.note_staff_reply(db_session, handoff=handoff, staff=agent, now=clock.fixed)
    db_session.commit()

    assert say(chat, "pode ser em 6 vezes?").json()["messages"] == []
    assert rasa.received == []


def test_outside_business_hours_the_debtor_is_told_when_the_team_is_back(
    chat, rasa, db_session, clock
):
    clock.fixed = AFTER_HOURS
    contact = debtor_on_webchat(db_session, language=Language.ES)
    escalated(db_session, contact)

    [told] = say(chat, "hola?").json()["messages"]

    assert told["text"] == routing.notice(
        language=Language.ES, settings=Settings(), now=AFTER_HOURS, timezone="America/Sao_Paulo"
    )
    assert "lunes" in told["text"] and "9:00" in told["text"]
    assert rasa.received == []


def test_the_notice_names_the_day_in_the_debtors_language_and_time_zone():
    settings = Settings()
    italian = routing.notice(
        language=Language.IT, settings=settings, now=AFTER_HOURS, timezone="Europe/Rome"
    )
    english = routing.notice(language=Language.EN, settings=settings, now=AFTER_HOURS)

    assert "lunedì" in italian and "13:00" in italian  # 09:00 in São Paulo
    assert english.replace("\u202f", " ").endswith("we're back on Monday at 9:00 AM.")
    within = routing.notice(language=Language.EN, settings=settings, now=WITHIN_HOURS)
    assert within.endswith("within 15 minutes.")


def test_a_cue_hands_the_conversation_to_a_person_without_rasa(chat, rasa, db_session, clock):
    clock.fixed = WITHIN_HOURS
    contact = debtor_on_webchat(db_session)
    rasa.answer({"text": "Olá!"})

    [told] = say(chat, "meu pai morreu semana passada, não consigo pagar").json()["messages"]

    assert rasa.received == []
    handoff = handoffs.owner_of(db_session, contact)
    assert handoff.reason == "vulnerability" and handoff.status is HandoffStatus.QUEUED
    assert told["text"] == routing.notice(
        language=Language.PT_BR, settings=Settings(), now=WITHIN_HOURS
    )


def test_stop_still_works_while_a_person_owns_the_conversation(chat, rasa, db_session, clock):
    clock.fixed = WITHIN_HOURS
    contact = debtor_on_webchat(db_session)
    escalated(db_session, contact)

    confirmation = say(chat, "PARAR").json()["messages"]

    assert "VOLTAR" in confirmation[0]["text"]
    db_session.expire_all()
    assert db_session.get(ChannelContact, contact.id).opted_out_at == WITHIN_HOURS
    assert rasa.received == []


class EscalatingRasa:
    """A Rasa whose action server asks for a person during the turn (action_request_human)."""

    def __init__(self, engine, contact_id: int) -> None:
        self.engine, self.contact_id, self.calls = engine, contact_id, 0

    async def send(self, *, sender_id, text, metadata):
        from backend.db import session_factory

        self.calls += 1
        with session_factory(self.engine)() as db_session:
            contact = db_session.get(ChannelContact, self.contact_id)
            handoffs.escalate(db_session, contact=contact, reason="request_human", now=AFTER_HOURS)
            db_session.commit()
        return [BotMessage(text="I've asked a member of our team to take over.")]


def test_a_handoff_the_bots_turn_opened_is_announced_after_its_answer(engine, db_session):
    contact = debtor_on_webchat(db_session, language=Language.EN)
    fake = EscalatingRasa(engine, contact.id)

    def turn(text):
        return asyncio.run(
            gateway.handle_inbound(
                db_session=db_session,
                channel=Channel.WEBCHAT,
                external_id=SESSION,
                text=text,
                language_hint=None,
                rasa=fake,
                now=AFTER_HOURS,
                settings=Settings(),
            )
        )

    first = [m.text for m in turn("I want to talk to a person")]
    second = turn("hello?")

    assert first == [
        "I've asked a member of our team to take over.",
        routing.notice(
            language=Language.EN, settings=Settings(), now=AFTER_HOURS, timezone="America/Sao_Paulo"
        ),
    ]
    assert second == [] and fake.calls == 1
