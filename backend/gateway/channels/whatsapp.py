"""What the WhatsApp channel does with a delivery, and messages the business starts.

Messages go to the conversation gateway like any channel's, and the bot's answer is sent back
with the Graph API. The gateway logs each bot message as "message.sent" before the channel
sends it, and the log is append-only, so the id Meta gives a sent message (the wamid) is logged
right after it as "message.delivery" {interaction_id, wamid}; Meta's reports then arrive as
"message.status" {wamid, status, errors}. `send_to_contact` (reminders) keeps to the 24-hour
window and logs the wamid in its own "message.sent".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.channels.dedup import first_delivery
from backend.channels.whatsapp import (
    SILENT_TYPES,
    ContactOptedOut,
    Delivery,
    GraphClient,
    GraphError,
    InboundMessage,
    StatusUpdate,
    conversation_language,
    envelope,
    in_service_window,
    message_payload,
    template_for,
    template_payload,
)
from backend.config import Settings
from backend.contacts import service as contacts
from backend.contacts.models import ChannelContact
from backend.conversations import service as gateway
from backend.conversations.rasa_client import BotMessage, RasaClient
from backend.enums import Actor, Channel
from backend.interactions.models import Direction, Interaction
from backend.interactions.service import record
from locales import translate

log = logging.getLogger(__name__)

T = TypeVar("T")
DELIVERY = "message.delivery"
STATUS = "message.status"


async def handle_delivery(
    *, sessions: sessionmaker[Session], delivery: Delivery, settings: Settings, now: datetime
) -> None:
    """Log the statuses, then answer each message seen for the first time; never raises.

    Runs after Meta got its 200: Rasa may take seconds, and Meta redelivers slow webhooks.
    """
    try:
        with sessions() as db_session:
            for status in delivery.statuses:
                await _in_thread(_record_status, db_session=db_session, status=status)
            if not delivery.messages:
                return
            async with (
                RasaClient.from_settings(settings) as rasa,
                GraphClient(settings=settings) as graph,
            ):
                for message in delivery.messages:
                    try:
                        await _handle_message(
                            db_session=db_session,
                            message=message,
                            settings=settings,
                            rasa=rasa,
                            graph=graph,
                            now=now,
                        )
                    except Exception:  # one bad message must not cost the others their answer
                        log.exception("WhatsApp message %s could not be handled", message.wamid)
                        db_session.rollback()
    except Exception:
        log.exception("a WhatsApp delivery could not be handled")


async def _handle_message(
    *,
    db_session: Session,
    message: InboundMessage,
    settings: Settings,
    rasa: RasaClient,
    graph: GraphClient,
    now: datetime,
) -> None:
    if message.phone_number_id != settings.whatsapp_phone_number_id:
        log.warning("ignored WhatsApp message %s to another business number", message.wamid)
        return
    first = await _in_thread(
        first_delivery, db_session=db_session, channel=Channel.WHATSAPP, update_id=message.wamid
    )
    if not first or message.type in SILENT_TYPES:
        return
    if message.text is None:
        await _answer_unreadable(db_session=db_session, message=message, graph=graph, now=now)
        return
    replies = await gateway.handle_inbound(
        db_session=db_session,
        channel=Channel.WHATSAPP,
        external_id=message.wa_id,
        text=message.text,
        language_hint=None,
        rasa=rasa,
        now=now,
    )
    contact = await _in_thread(
        contacts.get_existing,
        db_session=db_session,
        channel=Channel.WHATSAPP,
        external_id=message.wa_id,
    )
    logged = await _in_thread(
        _logged_replies, db_session=db_session, contact=contact, count=len(replies)
    )
    language = conversation_language(contact)
    for reply, interaction_id in zip(replies, logged, strict=True):
        payload = message_payload(
            to=message.wa_id,
            message=reply,
            choose_prompt=translate(language, "Please choose an option."),
            list_label=translate(language, "Options"),
        )
        data: dict[str, Any] = {"interaction_id": interaction_id, "type": payload["type"]}
        try:
            data["wamid"] = await graph.send(payload)
        except GraphError as exc:
            log.warning("reply to WhatsApp contact %s not sent: %s", contact.id, exc)
            data.update(wamid=None, error=str(exc))
        await _in_thread(_log, db_session=db_session, contact=contact, event=DELIVERY, data=data)


async def _answer_unreadable(
    *, db_session: Session, message: InboundMessage, graph: GraphClient, now: datetime
) -> None:
    # Images, voice notes, stickers... still open the 24-hour window, but Rasa reads only text.
    contact = await _in_thread(_receive_unreadable, db_session=db_session, message=message, now=now)
    text = translate(conversation_language(contact), "Sorry, I can only read text.")
    try:
        wamid: str | None = await graph.send(envelope(message.wa_id, "text", {"body": text}))
    except GraphError as exc:
        log.warning("reply to WhatsApp contact %s not sent: %s", contact.id, exc)
        wamid = None
    await _in_thread(
        _log,
        db_session=db_session,
        contact=contact,
        event=gateway.SENT,
        actor=Actor.BOT,
        text=text,
        data={"buttons": [], "wamid": wamid},
    )


async def send_to_contact(
    *,
    db_session: Session,
    contact: ChannelContact,
    text: str,
    graph: GraphClient,
    settings: Settings,
    now: datetime,
    template_parameters: list[str] | None = None,
) -> str:
    """Start a message to a WhatsApp contact (a reminder) and return its wamid.

    Within 24 hours of the person's last message `text` is sent as it is. Outside that window
    WhatsApp accepts only an approved template: the language's template is sent instead, with
    `template_parameters` filling its body, and `text` is not sent. The caller decides what
    `text` may say: the contact may not have verified their identity.
    """
    if contact.opted_out_at is not None:
        raise ContactOptedOut(f"contact {contact.id} opted out of WhatsApp")
    data: dict[str, Any]
    if in_service_window(contact=contact, now=now):
        payload = message_payload(
            to=contact.external_id, message=BotMessage(text=text), choose_prompt="", list_label=""
        )
        data, sent_text = {"buttons": []}, text
    else:
        name, code = template_for(settings=settings, language=conversation_language(contact))
        payload = template_payload(
            to=contact.external_id, name=name, language_code=code, parameters=template_parameters
        )
        data = {"template": name, "language_code": code, "parameters": template_parameters or []}
        sent_text = None
    data["wamid"] = await graph.send(payload)
    await _in_thread(
        _log,
        db_session=db_session,
        contact=contact,
        event=gateway.SENT,
        actor=Actor.SYSTEM,
        text=sent_text,
        data=data,
    )
    return data["wamid"]


# --- database work, run on a worker thread like the gateway's ----------------------------


async def _in_thread(function: Callable[..., T], **kwargs: Any) -> T:
    return await to_thread.run_sync(partial(function, **kwargs))


def _record_status(*, db_session: Session, status: StatusUpdate) -> None:
    # Meta may report one status twice; a (wamid, status) pair is logged once.
    update_id = f"status:{status.wamid}:{status.status}"
    if not first_delivery(db_session=db_session, channel=Channel.WHATSAPP, update_id=update_id):
        return
    contact = None
    if status.recipient_id:
        contact = contacts.get(
            db_session=db_session, channel=Channel.WHATSAPP, external_id=status.recipient_id
        )
    if status.status == "failed":
        log.warning("WhatsApp message %s failed: %s", status.wamid, status.errors)
    record(
        db_session=db_session,
        event=STATUS,
        actor=Actor.SYSTEM,
        contact=contact,
        channel=Channel.WHATSAPP,
        data={"wamid": status.wamid, "status": status.status, "errors": status.errors},
    )
    db_session.commit()


def _receive_unreadable(
    *, db_session: Session, message: InboundMessage, now: datetime
) -> ChannelContact:
    contact = contacts.get_or_create(
        db_session=db_session, channel=Channel.WHATSAPP, external_id=message.wa_id
    )
    contact.last_inbound_at = now
    record(
        db_session=db_session,
        event=gateway.RECEIVED,
        actor=Actor.DEBTOR,
        direction=Direction.INBOUND,
        contact=contact,
        data={"type": message.type},
    )
    db_session.commit()
    return contact


def _logged_replies(*, db_session: Session, contact: ChannelContact, count: int) -> list[int]:
    # The gateway has just logged the bot's turn: its last `count` outbound messages.
    query = (
        select(Interaction.id)
        .where(
            Interaction.contact_id == contact.id,
            Interaction.event.in_((gateway.SENT, gateway.UNAVAILABLE)),
        )
        .order_by(Interaction.id.desc())
        .limit(count)
    )
    return list(reversed(db_session.scalars(query).all()))


def _log(
    *,
    db_session: Session,
    contact: ChannelContact,
    event: str,
    data: dict[str, Any],
    actor: Actor = Actor.SYSTEM,
    text: str | None = None,
) -> None:
    record(
        db_session=db_session,
        event=event,
        actor=actor,
        direction=Direction.OUTBOUND,
        contact=contact,
        text=text,
        data=data,
    )
    db_session.commit()
