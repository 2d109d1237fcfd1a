"""The conversation gateway: every inbound message is logged, given a language and sent to Rasa.

Channels (web chat, Telegram, WhatsApp) call `handle_inbound` and show what it returns. A
message that is only an opt-out or opt-in keyword (`keywords.py`) is answered here and never
reaches Rasa, so STOP works and is recorded even when Rasa or the action server is down. The
database work runs in plain synchronous functions on a worker thread, and the inbound message
is committed *before* Rasa is asked: the message is kept even if Rasa fails, and no
transaction stays open while Rasa runs actions that write through the backend API (on SQLite
an open write transaction would block them until the call timed out).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.contacts import service as contacts
from backend.contacts.models import ChannelContact
from backend.enums import Actor, Channel, Language
from backend.exceptions import InvalidRequest
from backend.gateway import keywords, opt_out
from backend.gateway.keywords import Keyword, KeywordMatch
from backend.gateway.language import detect_language
from backend.gateway.rasa_client import AssistantUnavailable, BotMessage, RasaClient
from backend.gateway.verification_answers import (
    ASKS,
    MASK,
    VERIFICATION,
    asks_for_verification,
)
from backend.interactions.models import Direction, Interaction
from backend.interactions.service import record
from locales import translate

log = logging.getLogger(__name__)

RECEIVED = "message.received"
SENT = "message.sent"
UNAVAILABLE = "assistant.unavailable"
# A bot turn longer than this many messages is not expected; it only bounds the lookup.
_LAST_TURN_LIMIT = 20
# Leading slashes (and the blanks before them) that would make Rasa read an intent shortcut.
_SHORTCUT_PREFIX = re.compile(r"^[\s/]+")


@dataclass(frozen=True)
class _Received:
    contact: ChannelContact
    language: Language | None
    forwarded_text: str
    metadata: dict[str, Any]


def end_conversation(
    *, db_session: Session, channel: Channel, external_id: str, now: datetime
) -> None:
    """The person ended the conversation: it needs verifying again before any detail."""
    contact = contacts.get(db_session=db_session, channel=channel, external_id=external_id)
    if contact is None:
        return
    contacts.forget_verification(db_session=db_session, contact=contact)
    record(
        db_session=db_session,
        event="conversation.ended",
        actor=Actor.DEBTOR,
        direction=Direction.INTERNAL,
        contact=contact,
    )
    db_session.commit()


def ensure_fits(*, text: str, max_chars: int) -> None:
    """Refuse a message longer than the channel accepts, before anything is recorded."""
    if len(text) > max_chars:
        raise InvalidRequest(
            f"messages are limited to {max_chars} characters",
            reason_code="message_too_long",
            max_chars=max_chars,
        )


async def handle_inbound(
    *,
    db_session: Session,
    channel: Channel,
    external_id: str,
    text: str,
    language_hint: Language | None,
    rasa: RasaClient,
    now: datetime,
    client_address: str | None = None,
) -> list[BotMessage]:
    """Log the message, forward it to Rasa and log and return the bot's answer.

    An opt-out or opt-in keyword is answered without Rasa. When Rasa is unavailable the answer
    is one apology, in the conversation's language, that says the message was kept and offers
    a human.
    """
    keyword = keywords.match(text)
    if keyword is not None:
        answered = await to_thread.run_sync(
            partial(
                _answer_keyword,
                db_session=db_session,
                channel=channel,
                external_id=external_id,
                text=text,
                keyword=keyword,
                language_hint=language_hint,
                now=now,
            )
        )
        if answered is not None:
            return answered
    received = await to_thread.run_sync(
        partial(
            _receive,
            db_session=db_session,
            channel=channel,
            external_id=external_id,
            text=text,
            language_hint=language_hint,
            now=now,
        )
    )
    # Only for the backend's verification guards (counted per address, stored as a keyed
    # hash); the action server passes it on and nothing logs it.
    metadata = {**received.metadata, "client_address": client_address}
    try:
        replies = await rasa.send(
            sender_id=f"{channel.value}:{external_id}",
            text=received.forwarded_text,
            metadata=metadata,
        )
    except AssistantUnavailable as exc:
        log.warning("assistant unavailable for contact %s: %s", received.contact.id, exc)
        apology = BotMessage(text=_apology(received.language))
        await to_thread.run_sync(
            partial(_record_unavailable, db_session=db_session, received=received, apology=apology)
        )
        return [apology]
    await to_thread.run_sync(
        partial(_record_replies, db_session=db_session, contact=received.contact, replies=replies)
    )
    return replies


def _answer_keyword(
    *,
    db_session: Session,
    channel: Channel,
    external_id: str,
    text: str,
    keyword: KeywordMatch,
    language_hint: Language | None,
    now: datetime,
) -> list[BotMessage] | None:
    """Opt the contact out or back in and log the confirmation; None leaves it to Rasa.

    START from a contact that did not opt out is an ordinary message (Telegram's /start).
    """
    contact = contacts.get_or_create(
        db_session=db_session, channel=channel, external_id=external_id
    )
    if keyword.keyword is Keyword.OPT_IN and contact.opted_out_at is None:
        return None
    contact.last_inbound_at = now
    record(
        db_session=db_session,
        event=RECEIVED,
        actor=Actor.DEBTOR,
        direction=Direction.INBOUND,
        contact=contact,
        text=text,
        data={"keyword": keyword.keyword.value},
    )
    if keyword.keyword is Keyword.OPT_IN:
        contacts.opt_in(db_session=db_session, contact=contact)
    elif keyword.keyword is Keyword.OPT_OUT_EVERYWHERE:
        contacts.opt_out_everywhere(db_session=db_session, contact=contact, now=now)
    else:
        contacts.opt_out(db_session=db_session, contact=contact, now=now)
    language = keyword.language(_known_language(contact), language_hint)
    replies = opt_out.confirmation(
        keyword.keyword, language, bound_to_debtor=contact.debtor_id is not None
    )
    _record_replies(db_session=db_session, contact=contact, replies=replies)
    return replies


def _receive(
    *,
    db_session: Session,
    channel: Channel,
    external_id: str,
    text: str,
    language_hint: Language | None,
    now: datetime,
) -> _Received:
    contact = contacts.get_or_create(
        db_session=db_session, channel=channel, external_id=external_id
    )
    last_turn = _last_bot_turn(db_session=db_session, contact=contact)
    is_payload = text in _payloads(last_turn)
    forwarded = text if is_payload else _SHORTCUT_PREFIX.sub("", text, count=1)
    contact.last_inbound_at = now
    # An answer to a verification question is never logged as typed (verification_answers.py).
    masked = not is_payload and any(data.get(ASKS) == VERIFICATION for data in last_turn)
    record(
        db_session=db_session,
        event=RECEIVED,
        actor=Actor.DEBTOR,
        direction=Direction.INBOUND,
        contact=contact,
        text=MASK if masked else text,
        data={"masked": VERIFICATION} if masked else None,
    )
    known = _known_language(contact) or language_hint
    detected = None if is_payload else detect_language(text, known=known)
    if detected is not None and detected != contact.language:
        contacts.set_language(db_session=db_session, contact=contact, language=detected)
    language = detected or _known_language(contact) or language_hint
    db_session.commit()
    metadata = {
        "channel": channel.value,
        "external_id": external_id,
        "language": language.value if language else None,
        "detected_language": detected.value if detected else None,
        "debtor_known": contact.debtor_id is not None,
    }
    return _Received(contact, language, forwarded, metadata)


def _known_language(contact: ChannelContact) -> Language | None:
    # Before the browser's hint: the hint comes with every message, while the stored language
    # is what this conversation was last detected in (or what the person chose).
    if contact.language is not None:
        return contact.language
    return contact.debtor.preferred_language if contact.debtor is not None else None


def offered_payloads(*, db_session: Session, contact: ChannelContact) -> set[str]:
    """The button payloads of the bot's last turn: the only `/intent` texts Rasa may receive.

    A turn is every message the bot sent since the contact last wrote; any other text starting
    with "/" would let a user trigger intents and entities the dialogue did not offer.
    """
    return _payloads(_last_bot_turn(db_session=db_session, contact=contact))


def _payloads(turn: list[dict[str, Any]]) -> set[str]:
    return {button["payload"] for data in turn for button in data.get("buttons", [])}


def _last_bot_turn(*, db_session: Session, contact: ChannelContact) -> list[dict[str, Any]]:
    """The logged data of each message the bot sent since the contact last wrote."""
    query = (
        select(Interaction.event, Interaction.data)
        .where(
            Interaction.contact_id == contact.id,
            Interaction.event.in_((RECEIVED, SENT, UNAVAILABLE)),
        )
        .order_by(Interaction.id.desc())
        .limit(_LAST_TURN_LIMIT)
    )
    turn: list[dict[str, Any]] = []
    for event, data in db_session.execute(query):
        if event != SENT:
            break
        turn.append(data or {})
    return turn


def _record_replies(
    *, db_session: Session, contact: ChannelContact, replies: list[BotMessage]
) -> None:
    # Rasa's actions may have verified the contact meanwhile: log with its current debtor.
    db_session.refresh(contact)
    for reply in replies:
        record(
            db_session=db_session,
            event=SENT,
            actor=Actor.BOT,
            direction=Direction.OUTBOUND,
            contact=contact,
            text=reply.text,
            data={
                "buttons": [button.model_dump() for button in reply.buttons],
                **({ASKS: VERIFICATION} if asks_for_verification(reply.text) else {}),
            },
        )
    db_session.commit()


def _record_unavailable(*, db_session: Session, received: _Received, apology: BotMessage) -> None:
    record(
        db_session=db_session,
        event=UNAVAILABLE,
        actor=Actor.SYSTEM,
        direction=Direction.OUTBOUND,
        contact=received.contact,
        text=apology.text,
        data={"language": received.language.value if received.language else None},
    )
    db_session.commit()


def _apology(language: Language | None) -> str:
    return translate(
        language.value if language else None,
        "Sorry, I can't answer right now. Your message was kept and a member of our team can "
        'help you: just write "human".',
    )
