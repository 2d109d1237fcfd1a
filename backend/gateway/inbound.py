"""The inbound path: every message a person writes is logged, given a language and answered.

Channels (web chat, Telegram, WhatsApp) call `handle_inbound` and show what it returns. A
message that is only an opt-out or opt-in keyword (`keywords.py`) is answered here and never
reaches Rasa, so STOP works and is recorded even when Rasa or the action server is down. The
database work runs in plain synchronous functions on a worker thread, and the inbound message
is committed *before* Rasa is asked: the message is kept even if Rasa fails, and no
transaction stays open while Rasa runs actions that write through the backend API (on SQLite
an open write transaction would block them until the call timed out).

A message that answers a reminder (the assistant wrote first, `record_outbound`) first tells
Rasa which debt and which reminder it answers, as the external event `/EXTERNAL_reminder{...}`
(the mechanism of Rasa's trigger_intent), so "sim, quero parcelar" continues with that debt.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from anyio import to_thread
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from backend.config import Settings, get_settings
from backend.contacts import service as contacts
from backend.contacts.models import ChannelContact
from backend.debts.models import Debt
from backend.enums import Actor, Channel, Language
from backend.exceptions import InvalidRequest
from backend.gateway import keywords, opt_out
from backend.gateway.keywords import Keyword, KeywordMatch
from backend.gateway.language import conversation_language, detect_language
from backend.gateway.models import MessageKind, OutboxMessage, OutboxStatus
from backend.gateway.rasa_client import AssistantUnavailable, BotMessage, Button, RasaClient
from backend.gateway.verification_answers import (
    ASKS,
    MASK,
    VERIFICATION,
    asks_for_verification,
)
from backend.handoffs import routing
from backend.interactions.models import Direction, Interaction
from backend.interactions.service import record
from backend.observability.context import current_request_id, new_request_id, request_id_var
from backend.observability.timing import counting_statements
from backend.observability.turns import observe_turn
from locales import translate

if TYPE_CHECKING:
    from backend.gateway.channels.base import Recipient

log = logging.getLogger(__name__)

RECEIVED = "message.received"
SENT = "message.sent"
UNAVAILABLE = "assistant.unavailable"
# A bot turn longer than this many messages is not expected; it only bounds the lookup.
_LAST_TURN_LIMIT = 20
# How many of a contact's latest messages the assistant started are searched for one outbox id.
_OUTBOUND_LOOKBACK = 50
REMINDER_EVENT = "EXTERNAL_reminder"
# Leading slashes (and the blanks before them) that would make Rasa read an intent shortcut.
_SHORTCUT_PREFIX = re.compile(r"^[\s/]+")


@dataclass(frozen=True)
class ReminderContext:
    """The reminder a message answers: which debt, and what kind of message it was."""

    debt_reference: str
    kind: str

    def event_text(self) -> str:
        """The external event Rasa reads as the intent `EXTERNAL_reminder` with two entities."""
        entities = {"debt_reference": self.debt_reference, "reminder_kind": self.kind}
        return f"/{REMINDER_EVENT}{json.dumps(entities, ensure_ascii=False)}"


@dataclass(frozen=True)
class _Received:
    contact: ChannelContact
    language: Language | None
    forwarded_text: str
    metadata: dict[str, Any]
    reminder: ReminderContext | None


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
    settings: Settings | None = None,
) -> list[BotMessage]:
    """Log the message, forward it to Rasa and log and return the bot's answer.

    While a person of the staff owns the conversation, the message is only logged for them.

    An opt-out or opt-in keyword is answered without Rasa. When Rasa is unavailable the answer
    is one apology, in the conversation's language, that says the message was kept and offers
    a human. Each turn is logged once (`turn`, with its request id, its time waiting on Rasa
    and its SQL time) and counted in the metrics.
    """
    if current_request_id() is None:  # a Telegram update, handled outside any HTTP request
        request_id_var.set(new_request_id())
    started = time.perf_counter()
    with counting_statements() as db_stats:
        turn = await _take_turn(
            db_session=db_session,
            channel=channel,
            external_id=external_id,
            text=text,
            language_hint=language_hint,
            rasa=rasa,
            now=now,
            client_address=client_address,
            settings=settings or get_settings(),
        )
    observe_turn(
        channel=channel.value,
        outcome=turn.outcome,
        duration_s=time.perf_counter() - started,
        rasa_s=turn.rasa_seconds,
        db_stats=db_stats,
    )
    return turn.replies


@dataclass(frozen=True)
class _Turn:
    replies: list[BotMessage]
    # Who answered: "bot", "staff", "keyword" or "unavailable" (backend/observability/turns.py).
    outcome: str
    rasa_seconds: float = 0.0


async def _take_turn(
    *,
    db_session: Session,
    channel: Channel,
    external_id: str,
    text: str,
    language_hint: Language | None,
    rasa: RasaClient,
    now: datetime,
    client_address: str | None,
    settings: Settings,
) -> _Turn:
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
            return _Turn(answered, "keyword")
    # One trip to a worker thread before Rasa (log the message, then decide who answers) and
    # one after (log the answer and any notice): each trip costs a thread hand-off per turn.
    received, to_staff = await to_thread.run_sync(
        partial(
            _receive_and_route,
            db_session=db_session,
            channel=channel,
            external_id=external_id,
            text=text,
            language_hint=language_hint,
            settings=settings,
            now=now,
        )
    )
    # --- handoffs: who answers (backend/handoffs/routing.py) ---------------------------------
    # A person of the staff when one owns the conversation, or when a cue in this message
    # (illness, a legal threat, insults) hands it to them: then Rasa never sees it.
    if to_staff is not None:
        return _Turn(to_staff, "staff")
    # Only for the backend's verification guards (counted per address, stored as a keyed
    # hash); the action server passes it on and nothing logs it.
    metadata = {**received.metadata, "client_address": client_address}
    asked = time.perf_counter()
    try:
        replies = await _ask_rasa(
            rasa=rasa,
            sender_id=f"{channel.value}:{external_id}",
            received=received,
            metadata=metadata,
        )
    except AssistantUnavailable as exc:
        log.warning("assistant unavailable for contact %s: %s", received.contact.id, exc)
        apology = BotMessage(text=_apology(received.language))
        await to_thread.run_sync(
            partial(_record_unavailable, db_session=db_session, received=received, apology=apology)
        )
        return _Turn([apology], "unavailable", time.perf_counter() - asked)
    rasa_seconds = time.perf_counter() - asked
    # The bot's turn itself may have asked for a person (an action escalated): say when.
    told = await to_thread.run_sync(
        partial(
            _record_bot_turn,
            db_session=db_session,
            received=received,
            replies=replies,
            settings=settings,
            now=now,
        )
    )
    return _Turn(replies + told, "bot", rasa_seconds)
    # --- end of handoffs ----------------------------------------------------------------------


async def _ask_rasa(
    *, rasa: RasaClient, sender_id: str, received: _Received, metadata: dict[str, Any]
) -> list[BotMessage]:
    if received.reminder is not None:
        # Sets the debt and the reminder as the conversation's context; what Rasa says
        # to the event itself is not shown: the person's message is answered next.
        await rasa.send(sender_id=sender_id, text=received.reminder.event_text(), metadata=metadata)
    return await rasa.send(sender_id=sender_id, text=received.forwarded_text, metadata=metadata)


def _receive_and_route(
    *,
    db_session: Session,
    channel: Channel,
    external_id: str,
    text: str,
    language_hint: Language | None,
    settings: Settings,
    now: datetime,
) -> tuple[_Received, list[BotMessage] | None]:
    received = _receive(
        db_session=db_session,
        channel=channel,
        external_id=external_id,
        text=text,
        language_hint=language_hint,
        now=now,
    )
    to_staff = routing.route_to_staff(
        db_session=db_session,
        contact=received.contact,
        text=text,
        language=received.language,
        settings=settings,
        now=now,
    )
    # Ends the read transaction, so the connection goes back to the pool before the turn
    # waits on Rasa: the actions' API calls need connections of this same pool meanwhile.
    db_session.commit()
    return received, to_staff


def _record_bot_turn(
    *,
    db_session: Session,
    received: _Received,
    replies: list[BotMessage],
    settings: Settings,
    now: datetime,
) -> list[BotMessage]:
    """Log the bot's answer; the notice that a person will answer when the turn asked for one."""
    _record_replies(db_session=db_session, contact=received.contact, replies=replies)
    return routing.tell_after_bot_turn(
        db_session=db_session,
        contact=received.contact,
        language=received.language,
        settings=settings,
        now=now,
    )


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
    language = keyword.language(conversation_language(contact), language_hint)
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
    # Before `last_inbound_at` moves: a reminder counts when sent after the last message.
    reminder = _reminder_answered(db_session=db_session, contact=contact, last_turn=last_turn)
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
    known = conversation_language(contact, language_hint)
    detected = None if is_payload else detect_language(text, known=known)
    if detected is not None and detected != contact.language:
        contacts.set_language(db_session=db_session, contact=contact, language=detected)
    language = conversation_language(contact, language_hint)
    db_session.commit()
    metadata = {
        "channel": channel.value,
        "external_id": external_id,
        "language": language.value if language else None,
        "detected_language": detected.value if detected else None,
        "debtor_known": contact.debtor_id is not None,
    }
    return _Received(contact, language, forwarded, metadata, reminder)


def _reminder_answered(
    *, db_session: Session, contact: ChannelContact, last_turn: list[dict[str, Any]]
) -> ReminderContext | None:
    """The latest reminder about a debt the assistant sent this contact since it last wrote.

    Either recorded in the bot's last turn (`record_outbound`, also the web chat opened from an
    e-mail's link), or an outbox message sent to this contact after its last message.
    """
    recorded = [data["outbox_id"] for data in last_turn if data.get("outbox_id")]
    conditions = []
    if recorded:
        conditions.append(OutboxMessage.id.in_(recorded))
    if contact.debtor_id is not None:  # the outbox only sends to contacts of known debtors
        sent_here = and_(
            OutboxMessage.debtor_id == contact.debtor_id,
            OutboxMessage.contact_id == contact.id,
            OutboxMessage.status == OutboxStatus.SENT,
        )
        if contact.last_inbound_at is not None:
            sent_here = and_(sent_here, OutboxMessage.sent_at > contact.last_inbound_at)
        conditions.append(sent_here)
    if not conditions:
        return None
    query = (
        select(Debt.reference, OutboxMessage.kind)
        .join(Debt, Debt.id == OutboxMessage.debt_id)
        .where(or_(*conditions))
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    found = db_session.execute(query).first()
    if found is None:
        return None
    reference, kind = found
    return ReminderContext(debt_reference=reference, kind=MessageKind(kind).value)


def record_outbound(
    db_session: Session,
    contact: ChannelContact | None = None,
    text: str | None = None,
    buttons: Iterable[Button | dict[str, str]] = (),
    kind: MessageKind | str | None = None,
    outbox_id: int | None = None,
    *,
    message: OutboxMessage | None = None,
    recipient: Recipient | None = None,
    rendered: Any = None,
    provider_message_id: str | None = None,
    now: datetime | None = None,
) -> Interaction:
    """Log a message the assistant started (a reminder) as this contact's conversation turn.

    Called after a successful send: on a conversation channel the message's buttons become the
    payloads a reply may send (`offered_payloads`), and the contact's next message is read as
    an answer to it. Recorded once per outbox message and contact (the web chat's adapter
    records when it delivers; a second call returns that entry). An e-mail, which has no
    contact, is logged for the debtor. Flushes, does not commit.

    Two forms: `(db_session, contact, text, buttons, kind, outbox_id)`, or the sender's
    `(db_session, message=, recipient=, rendered=, provider_message_id=, now=)`, which takes
    all of that from the outbox row, the recipient and the rendered message.
    """
    data: dict[str, Any] = {}
    debtor_id = None
    if message is not None:
        outbox_id, kind = message.id, message.kind
        debtor_id = message.debtor_id
        if recipient is not None and recipient.contact_id is not None:
            contact = db_session.get(ChannelContact, recipient.contact_id)
        if rendered is not None:
            text, buttons = rendered.text, rendered.buttons
        if recipient is not None and contact is None:
            data["channel"] = recipient.channel.value
    if provider_message_id is not None:
        data["provider_message_id"] = provider_message_id
    if outbox_id is not None and contact is not None:
        already = _recorded_outbound(
            db_session=db_session,
            contact=contact,
            outbox_id=outbox_id,
            provider_message_id=provider_message_id,
        )
        if already is not None:
            return already
    outbox = message
    if outbox is None and outbox_id is not None:
        outbox = db_session.get(OutboxMessage, outbox_id)
    interaction = record(
        db_session=db_session,
        event=SENT,
        actor=Actor.SYSTEM,
        direction=Direction.OUTBOUND,
        contact=contact,
        debtor_id=debtor_id if contact is None else None,
        debt_id=outbox.debt_id if outbox is not None else None,
        text=text,
        data={
            "buttons": [
                b.model_dump() if isinstance(b, Button) else Button(**dict(b)).model_dump()
                for b in buttons
            ],
            "kind": kind.value if isinstance(kind, MessageKind) else kind,
            "outbox_id": outbox_id,
            **data,
        },
    )
    db_session.flush()
    return interaction


def _recorded_outbound(
    *,
    db_session: Session,
    contact: ChannelContact,
    outbox_id: int,
    provider_message_id: str | None = None,
) -> Interaction | None:
    # The web chat's adapter records the message itself and gives that entry's id as the
    # provider's message id.
    if contact.channel is Channel.WEBCHAT and (provider_message_id or "").isdigit():
        stored = db_session.get(Interaction, int(provider_message_id))
        if stored is not None and stored.contact_id == contact.id and stored.event == SENT:
            return stored
    query = (
        select(Interaction)
        .where(
            Interaction.contact_id == contact.id,
            Interaction.event == SENT,
            Interaction.actor == Actor.SYSTEM,
        )
        .order_by(Interaction.id.desc())
        .limit(_OUTBOUND_LOOKBACK)
    )
    return next(
        (i for i in db_session.scalars(query) if (i.data or {}).get("outbox_id") == outbox_id),
        None,
    )


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
