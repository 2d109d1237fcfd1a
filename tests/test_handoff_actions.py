"""The action server's escalations: two fallbacks in a row, a plan beyond policy, hardship.

The real action server and backend (tests/test_actions.py's stack), called as Rasa calls them.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from backend.contacts.models import ChannelContact
from backend.handoffs.models import Handoff, HandoffStatus
from backend.interactions.models import Interaction
from tests.test_actions import Conversation, db, stack  # noqa: F401 (fixtures)


def with_history(monkeypatch, history: list[dict]) -> None:
    """Earlier events of the conversation, before what each call sends (as Rasa's tracker has)."""
    real = httpx.post

    def post(url, *, json, **kwargs):
        json["tracker"]["events"] = history + json["tracker"]["events"]
        return real(url, json=json, **kwargs)

    monkeypatch.setattr(httpx, "post", post)


def contact_of(db_session, chat: Conversation) -> ChannelContact | None:
    """The sender, once the action server has asked the backend anything about it."""
    external_id = chat.sender.split(":", 1)[1]
    query = select(ChannelContact).where(ChannelContact.external_id == external_id)
    return db_session.scalars(query).one_or_none()


def escalation_reasons(db_session, chat: Conversation) -> list[str]:
    db_session.expire_all()
    contact = contact_of(db_session, chat)
    if contact is None:
        return []
    query = select(Interaction.data).where(
        Interaction.event == "escalation.requested", Interaction.contact_id == contact.id
    )
    return [data["reason"] for data in db_session.scalars(query)]


def open_handoff(db_session, chat: Conversation) -> Handoff | None:
    query = select(Handoff).where(
        Handoff.contact_id == contact_of(db_session, chat).id,
        Handoff.status == HandoffStatus.QUEUED,
    )
    return db_session.scalars(query).one_or_none()


def test_a_fallback_after_an_understood_message_asks_again(stack, db, monkeypatch):  # noqa: F811
    chat = Conversation(stack["actions"], language="en")
    chat.slots["fallback_count"] = 1.0  # from a fallback earlier in the conversation
    with_history(
        monkeypatch,
        [
            {"event": "user", "text": "blorp"},
            {"event": "action", "name": "action_fallback"},
            {"event": "rewind"},
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": "hello"},
            {"event": "action", "name": "action_greet"},
            {"event": "action", "name": "action_listen"},
        ],
    )

    said = chat.run("action_fallback", text="blorp blorp", intent="nlu_fallback")

    assert said == ["Sorry, I didn't understand. Could you say it another way?"]
    assert chat.slots["fallback_count"] == 1.0
    assert escalation_reasons(db, chat) == []


def test_two_fallbacks_in_a_row_queue_the_conversation(stack, db, monkeypatch):  # noqa: F811
    chat = Conversation(stack["actions"], language="en")
    chat.slots["fallback_count"] = 1.0
    with_history(
        monkeypatch,
        [
            {"event": "user", "text": "blorp"},
            {"event": "action", "name": "action_fallback"},
            {"event": "rewind"},
            {"event": "action", "name": "action_listen"},
        ],
    )

    chat.run("action_fallback", text="blorp blorp", intent="nlu_fallback")

    assert escalation_reasons(db, chat) == ["not_understood"]
    assert open_handoff(db, chat).reason == "repeated_fallback"


def test_a_person_asked_for_over_counter_offers_is_a_plan_beyond_policy(stack, db):  # noqa: F811
    chat = Conversation(stack["actions"], language="pt_BR")
    chat.slots["plan_options"] = [{"proposal": {}, "ask": {}}]

    chat.run("action_request_human", text="quero falar com uma pessoa", intent="request_human")

    assert escalation_reasons(db, chat) == ["plan_beyond_policy"]
    assert open_handoff(db, chat).reason == "plan_beyond_policy"


def test_a_plain_request_for_a_person(stack, db):  # noqa: F811
    chat = Conversation(stack["actions"], language="pt_BR")

    chat.run("action_request_human", text="quero falar com uma pessoa", intent="request_human")

    assert open_handoff(db, chat).reason == "request_human"


@pytest.mark.parametrize("language", ["en"])
def test_hardship_goes_to_a_person_by_default(stack, db, language):  # noqa: F811
    chat = Conversation(stack["actions"], language=language)

    said = chat.run("action_hardship", text="I lost my job", intent="inform_hardship")

    assert said[-1] == "I've asked a member of our team to look at this with you here."
    assert chat.slots["hardship"] is True
    assert open_handoff(db, chat).reason == "hardship"
