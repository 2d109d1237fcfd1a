"""The WhatsApp channel: Meta's webhook, what is done with a delivery, and the outbound adapter.

Messages go to the inbound path like any channel's, and the bot's answer is sent back with the
Graph API (the app's one `GraphClient`). The gateway logs each bot message as "message.sent"
before the channel sends it, and the log is append-only, so the id Meta gives a sent message
(the wamid) is logged right after it as "message.delivery" {interaction_id, wamid}; Meta's
reports then arrive as "message.status" {wamid, status, errors}. `WhatsAppAdapter` sends the
messages the assistant starts: free text within 24 hours of the person's last message, an
approved template outside it (the compliance gate decides which, `OutboundText.template`).
How the Cloud API is spoken (signatures, payloads, templates) is in `whatsapp_api`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any, TypeVar

from anyio import to_thread
from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request, status
from fastapi.responses import PlainTextResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.contacts import service as contacts
from backend.contacts.models import ChannelContact
from backend.db import SessionDep, session_factory
from backend.deps import Now, SettingsDep
from backend.enums import Actor, Channel, Language
from backend.gateway import inbound as gateway
from backend.gateway.channels import whatsapp_api
from backend.gateway.channels.base import (
    RATE_LIMITED,
    DeliveryUncertain,
    OutboundText,
    PermanentSendError,
    Recipient,
    TransientSendError,
)
from backend.gateway.channels.whatsapp_api import (
    SILENT_TYPES,
    Delivery,
    GraphClient,
    GraphError,
    InboundMessage,
    StatusUpdate,
    TemplateUnavailable,
    envelope,
    message_payload,
    template_for,
    template_payload,
)
from backend.gateway.dedup import first_delivery
from backend.gateway.language import conversation_language
from backend.gateway.models import OutboundChannel
from backend.gateway.rasa_client import BotMessage, RasaClient
from backend.interactions.models import Direction, Interaction
from backend.interactions.service import record
from locales import translate

log = logging.getLogger(__name__)

T = TypeVar("T")
DELIVERY = "message.delivery"
STATUS = "message.status"

# Meta calls these routes; no service token: the verify token and the app secret's signature
# authenticate it.
router = APIRouter(prefix="/channels/whatsapp", tags=["whatsapp"])


async def handle_delivery(
    *,
    sessions: sessionmaker[Session],
    delivery: Delivery,
    settings: Settings,
    rasa: RasaClient,
    graph: GraphClient,
    now: datetime,
) -> None:
    """Log the statuses, then answer each message seen for the first time; never raises.

    Runs after Meta got its 200: Rasa may take seconds, and Meta redelivers slow webhooks.
    """
    try:
        with sessions() as db_session:
            for status in delivery.statuses:
                await _in_thread(_record_status, db_session=db_session, status=status)
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
        settings=settings,
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


# --- the webhook ------------------------------------------------------------------------


def _require_configured(settings: Settings) -> None:
    missing = whatsapp_api.missing_settings(settings)
    if missing:
        names = ", ".join(f"ACORDO_{name.upper()}" for name in missing)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={
                "reason_code": "whatsapp_not_configured",
                "message": f"the WhatsApp channel is not configured: set {names}",
            },
        )


def _refuse(code: int, reason_code: str, message: str) -> HTTPException:
    return HTTPException(code, detail={"reason_code": reason_code, "message": message})


@router.get("/webhook", response_class=PlainTextResponse)
def verify_webhook(
    settings: SettingsDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    verify_token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    """Meta's subscription handshake: echo the challenge when the verify token matches."""
    _require_configured(settings)
    token_ok = verify_token is not None and hmac.compare_digest(
        verify_token.encode(), settings.whatsapp_verify_token.encode()
    )
    if mode != "subscribe" or not token_ok or not challenge:
        log.warning("refused a WhatsApp webhook handshake")
        raise _refuse(status.HTTP_403_FORBIDDEN, "forbidden", "wrong verify token")
    return PlainTextResponse(challenge)


@router.post("/webhook")
async def receive_webhook(
    request: Request,
    background: BackgroundTasks,
    db_session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> dict[str, str]:
    """Check the signature, parse, and answer 200 at once; messages are handled afterwards."""
    _require_configured(settings)
    body = await request.body()
    signature = request.headers.get(whatsapp_api.SIGNATURE_HEADER)
    if not whatsapp_api.signature_is_valid(
        app_secret=settings.whatsapp_app_secret, body=body, header=signature
    ):
        log.warning("refused a WhatsApp webhook: %s signature", "bad" if signature else "no")
        raise _refuse(status.HTTP_401_UNAUTHORIZED, "invalid_signature", "invalid signature")
    try:
        delivery = whatsapp_api.parse_webhook(body)
    except whatsapp_api.MalformedPayload as exc:
        log.warning("refused a malformed WhatsApp webhook: %s", exc)
        raise _refuse(
            status.HTTP_400_BAD_REQUEST, "malformed_payload", "not a WhatsApp webhook payload"
        ) from exc
    graph = request.app.state.gateway.whatsapp
    if graph is None:  # configured after the app started: takes a restart
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"reason_code": "whatsapp_not_configured", "message": "restart to enable"},
        )
    # The request's session closes with the response; the handling opens its own on one engine.
    sessions = session_factory(db_session.get_bind())
    background.add_task(
        handle_delivery,
        sessions=sessions,
        delivery=delivery,
        settings=settings,
        rasa=request.app.state.gateway.rasa,
        graph=graph,
        now=now,
    )
    return {"status": "received"}


# --- the outbound adapter ---------------------------------------------------------------

# Graph API error codes that only ask to wait: throughput, spam and per-pair rate limits, and
# Meta's own temporary failures (Cloud API docs, "Error codes").
TRANSIENT_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004})


class WhatsAppAdapter:
    """Sends the messages the assistant starts to a WhatsApp number (`Recipient.address`)."""

    channel = OutboundChannel.WHATSAPP

    def __init__(self, settings: Settings, *, graph: GraphClient | None = None) -> None:
        """Sends with the app's `graph` client when given, else opens its own on first use."""
        self._settings = settings
        self._graph = graph
        self._owns_graph = graph is None

    def available(self) -> bool:
        return not whatsapp_api.missing_settings(self._settings)

    async def send(self, recipient: Recipient, message: OutboundText) -> str:
        """Send the template when one is set, else the text with its buttons; returns the wamid."""
        if not self.available():
            raise PermanentSendError("not_configured", "the WhatsApp channel is not configured")
        if message.template is not None:
            template = message.template
            name, code = template.name, template.language_code
            if not name:
                try:
                    name, code = template_for(
                        settings=self._settings, language=Language(recipient.language)
                    )
                except (TemplateUnavailable, ValueError) as exc:
                    raise PermanentSendError("no_template", str(exc)) from exc
            payload = template_payload(
                to=recipient.address, name=name, language_code=code, parameters=template.parameters
            )
        else:
            payload = message_payload(
                to=recipient.address,
                message=BotMessage(text=message.text, buttons=message.buttons),
                choose_prompt=translate(recipient.language, "Please choose an option."),
                list_label=translate(recipient.language, "Options"),
            )
        if self._graph is None:
            self._graph = GraphClient(settings=self._settings)
        try:
            return await self._graph.send(payload)
        except GraphError as exc:
            raise send_error(exc) from exc

    async def aclose(self) -> None:
        if self._owns_graph and self._graph is not None:
            await self._graph.aclose()
            self._graph = None


def send_error(exc: GraphError) -> TransientSendError | PermanentSendError | DeliveryUncertain:
    """What a Graph API failure means for the outbound path.

    429, 5xx, failed connections and rate-limit codes are retried; a request sent but never
    answered may have been delivered, so it is not; any other refusal (131026 undeliverable,
    131047 outside the 24-hour window…) is final for this channel.
    """
    detail = f"{exc.status or '-'}/{exc.code or '-'}"
    if exc.status is None and exc.maybe_delivered:
        return DeliveryUncertain("no_answer", detail)
    if exc.status is None or exc.status == 429 or exc.status >= 500:
        return TransientSendError("unreachable" if exc.status is None else "provider_busy", detail)
    if exc.code in TRANSIENT_CODES:
        return TransientSendError(RATE_LIMITED, detail)
    reason = {131026: "undeliverable", 131047: "outside_service_window"}.get(exc.code, "refused")
    return PermanentSendError(reason, detail)
