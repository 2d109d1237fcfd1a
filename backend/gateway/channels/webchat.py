"""The web chat: its page, the public API the page talks to, and the outbound adapter.

These routes need no service token: the customer's browser calls them. A session id is a
server-issued name for a web chat contact (`webchat_sessions`); it proves nothing, and debt
details still need the identity verification the bot asks for.

In: the page posts what the person typed (`POST /chat/api/messages`) and shows the answer.
Out: `WebchatAdapter` stores a message the assistant starts (a reminder) for the contact's
session, and the page, which asks `GET /chat/api/messages?after=<id>` every few seconds, shows
it. An e-mailed reminder links to `/chat?link=<token>` (`webchat_link`): the page opens a new
session bound to that debtor (possession of the e-mail, like a Telegram deep link) and shows
the reminder first; the person still verifies before any debt detail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.contacts import service as contacts
from backend.contacts.models import ChannelContact
from backend.db import SessionDep, make_engine, session_factory
from backend.debtors.models import Debtor
from backend.deps import MAX_ROW_ID, Now, SettingsDep
from backend.enums import Actor, Channel, Language
from backend.exceptions import InvalidRequest, RateLimited
from backend.gateway import inbound as gateway
from backend.gateway import link_tokens
from backend.gateway.channels import webchat_sessions
from backend.gateway.channels.base import (
    OutboundText,
    PermanentSendError,
    Recipient,
    TransientSendError,
)
from backend.gateway.language import accepted_language
from backend.gateway.lifespan import RasaDep
from backend.gateway.models import OutboundChannel, OutboxMessage, OutboxStatus
from backend.gateway.rasa_client import BotMessage, Button
from backend.interactions.models import Interaction
from backend.interactions.service import read_text, record
from locales import format_number, translate

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "webchat_static"
# The page loads only its own script and style, and only talks to this origin.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
NO_STORE = {"Cache-Control": "no-store"}

SESSION_HEADER = "X-Chat-Session"
# A poll answers at most this many messages (the page asks again at once for more).
POLL_BATCH = 20

router = APIRouter(prefix="/chat", tags=["web chat"])


def within_rate_limit(request: Request, settings: SettingsDep) -> None:
    """Count the request against its client address; 429 in the browser's language when over."""
    _count(request, settings, scope="webchat")


def within_poll_rate_limit(request: Request, settings: SettingsDep) -> None:
    """The page's polls are counted apart, so that waiting for messages never blocks writing."""
    _count(request, settings, scope="webchat-poll")


def _count(request: Request, settings: Settings, *, scope: str) -> None:
    address = request.client.host if request.client else "unknown"
    retry_after = request.app.state.webchat_limiter.hit(
        rate=settings.webchat_rate_limit, address=address, scope=scope
    )
    if retry_after is None:
        return
    language = accepted_language(request.headers.get("Accept-Language")).value
    raise RateLimited(
        translate(
            language,
            "You are sending messages too quickly. Please wait {seconds} seconds and try again.",
            seconds=format_number(retry_after, language),
        ),
        retry_after_seconds=retry_after,
    )


RATE_LIMITED = [Depends(within_rate_limit)]


# How a new conversation starts: plain, or from the link of an e-mailed reminder.
class SessionCreate(BaseModel):
    link: str | None = Field(None, max_length=128, description="the token of /chat?link=…")
    language: Language | None = Field(None, description="the browser's language, as a hint")


# A new web chat conversation; `notice` says why a link could not be used.
class SessionRead(BaseModel):
    session_id: str
    notice: str | None = None


# The conversation the visitor ends.
class SessionEnd(BaseModel):
    session_id: str = Field(min_length=1, max_length=128)


# What the visitor typed, or the payload of a button they pressed.
class ChatMessageCreate(BaseModel):
    session_id: str = Field(min_length=1, max_length=128, description="from POST /api/sessions")
    text: str = Field(min_length=1)
    language: Language | None = Field(None, description="the browser's language, as a hint")


# What the page shows in reply.
class ChatReply(BaseModel):
    messages: list[BotMessage]


# A message the assistant started (a reminder), with its place in the conversation.
class PushedMessage(BotMessage):
    id: int


# What arrived since the page last asked; `cursor` is the `after` of its next poll.
class PushedMessages(BaseModel):
    messages: list[PushedMessage]
    cursor: int


# The page's own words, in one language.
class UiStrings(BaseModel):
    language: Language
    max_message_chars: int
    strings: dict[str, str]
    # What the assistant says when the page opens, before anyone has written.
    greeting: list[BotMessage]


@router.get("", include_in_schema=False)
def chat_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "chat.html", media_type="text/html", headers=PAGE_HEADERS)


@router.post("/api/sessions", response_model=SessionRead, dependencies=RATE_LIMITED)
def start_session(
    response: Response,
    db_session: SessionDep,
    settings: SettingsDep,
    now: Now,
    creation: SessionCreate | None = None,
) -> SessionRead:
    """A new conversation: the server names it, the browser only keeps the name.

    With the token of an e-mailed link, the conversation is bound to that debtor and starts
    with their latest reminder (the page asks for it like any new message).
    """
    response.headers.update(NO_STORE)
    session_id = webchat_sessions.issue(secret=settings.contact_signing_secret)
    notice = None
    if creation is not None and creation.link:
        notice = open_link(
            db_session=db_session,
            session_id=session_id,
            token=creation.link,
            language=creation.language,
            settings=settings,
            now=now,
        )
    return SessionRead(session_id=session_id, notice=notice)


def issued_session(session_id: str, settings: Settings) -> str:
    try:
        webchat_sessions.check(session_id, secret=settings.contact_signing_secret)
    except webchat_sessions.SessionNotIssued as exc:
        raise InvalidRequest(
            "start a conversation with POST /chat/api/sessions", reason_code="session_invalid"
        ) from exc
    return session_id


@router.post(
    "/api/sessions/end",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=RATE_LIMITED,
)
def end_session(
    ending: SessionEnd, db_session: SessionDep, settings: SettingsDep, now: Now
) -> None:
    """The person ended the conversation: nothing more without verifying again."""
    gateway.end_conversation(
        db_session=db_session,
        channel=Channel.WEBCHAT,
        external_id=issued_session(ending.session_id, settings),
        now=now,
    )


@router.post("/api/messages", response_model=ChatReply, dependencies=RATE_LIMITED)
async def send_message(
    message: ChatMessageCreate,
    request: Request,
    response: Response,
    db_session: SessionDep,
    settings: SettingsDep,
    rasa: RasaDep,
    now: Now,
) -> ChatReply:
    issued_session(message.session_id, settings)
    gateway.ensure_fits(text=message.text, max_chars=settings.webchat_max_message_chars)
    replies = await gateway.handle_inbound(
        db_session=db_session,
        channel=Channel.WEBCHAT,
        external_id=message.session_id,
        text=message.text,
        language_hint=message.language,
        rasa=rasa,
        now=now,
        client_address=request.client.host if request.client else None,
        settings=settings,
    )
    response.headers.update(NO_STORE)
    return ChatReply(messages=replies)


@router.get(
    "/api/messages", response_model=PushedMessages, dependencies=[Depends(within_poll_rate_limit)]
)
def new_messages(
    response: Response,
    db_session: SessionDep,
    settings: SettingsDep,
    session_id: Annotated[str, Header(alias=SESSION_HEADER, max_length=128)],
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> PushedMessages:
    """Messages the assistant started in this conversation since `after` (the page polls)."""
    response.headers.update(NO_STORE)
    contact = contacts.get(
        db_session=db_session,
        channel=Channel.WEBCHAT,
        external_id=issued_session(session_id, settings),
    )
    if contact is None:
        return PushedMessages(messages=[], cursor=after)
    messages = pushed_since(db_session=db_session, contact=contact, after=after)
    return PushedMessages(messages=messages, cursor=max([after, *(m.id for m in messages)]))


@router.get("/api/ui-strings", response_model=UiStrings, dependencies=RATE_LIMITED)
def ui_strings(
    settings: SettingsDep, language: Annotated[Language, Query()] = Language.EN
) -> UiStrings:
    limit = settings.webchat_max_message_chars
    lang = language.value
    strings = {
        "title": translate(lang, "Payment assistant"),
        "log_label": translate(lang, "Conversation"),
        "input_label": translate(lang, "Your message"),
        "placeholder": translate(lang, "Type your message…"),
        "send": translate(lang, "Send"),
        "end": translate(lang, "End conversation"),
        "ended": translate(
            lang,
            "Conversation ended. To see any account details again, I'll confirm who you are.",
        ),
        "typing": translate(lang, "The assistant is typing…"),
        "text_only": translate(lang, "Sorry, I can only read text."),
        "error": translate(lang, "Your message could not be sent. Please try again."),
        "too_long": translate(
            lang,
            "Your message is too long: please keep it under {limit} characters.",
            limit=format_number(limit, lang),
        ),
    }
    return UiStrings(
        language=language,
        max_message_chars=limit,
        strings=strings,
        greeting=opening_greeting(lang, creditor=settings.creditor_name),
    )


def opening_greeting(language: str, *, creditor: str) -> list[BotMessage]:
    """Who is writing, what it can do, a privacy note and quick replies.

    The quick replies send their own words, which the assistant understands like anything
    typed: the page has no conversation yet, so there is no bot turn whose payloads it could use.
    """
    replies = [
        translate(language, "My balance"),
        translate(language, "Payment plan"),
        translate(language, "Talk to a person"),
    ]
    return [
        BotMessage(
            text=translate(
                language,
                "Hello! I'm the virtual assistant of {creditor}. I can help with "
                "balances, due dates and payment plans, and share tips on managing "
                "money. How can I help?",
                creditor=creditor,
            )
        ),
        BotMessage(
            text=translate(
                language,
                "Privacy: this conversation is recorded to serve you and as the law requires, "
                "and I'll confirm who you are before talking about any account.",
            ),
            buttons=[Button(title=reply, payload=reply) for reply in replies],
        ),
    ]


# --- messages the assistant starts --------------------------------------------------------


def pushed_since(
    *, db_session: Session, contact: ChannelContact, after: int
) -> list[PushedMessage]:
    """What was sent to the contact since `after` other than the bot's answers to the page.

    The page shows the answers to what it posts itself; everything else logged as sent to the
    contact (reminders, and later a person of the staff) comes through here.
    """
    query = (
        select(Interaction)
        .where(
            Interaction.contact_id == contact.id,
            Interaction.event == gateway.SENT,
            Interaction.actor != Actor.BOT,
            Interaction.id > after,
        )
        .order_by(Interaction.id)
        .limit(POLL_BATCH)
    )
    cache: dict = {}
    return [
        PushedMessage(
            id=interaction.id,
            text=read_text(db_session=db_session, interaction=interaction, cache=cache),
            buttons=[Button(**button) for button in (interaction.data or {}).get("buttons", [])],
        )
        for interaction in db_session.scalars(query)
    ]


class WebchatAdapter:
    """Stores a message for a web chat session (`Recipient.address`); its page shows it."""

    channel = OutboundChannel.WEBCHAT

    def __init__(
        self,
        settings: Settings,
        *,
        open_session: Callable[[], AbstractContextManager[Session]] | None = None,
    ) -> None:
        """Writes through `open_session` (the app's), else on the configured database."""
        self._settings = settings
        if open_session is None:  # no connection is made before the first send
            engine = make_engine(
                settings.database_url, timeout_seconds=settings.database_timeout_seconds
            )
            open_session = session_factory(engine)
        self._open_session = open_session

    def available(self) -> bool:
        return True  # the page is always served

    async def send(self, recipient: Recipient, message: OutboundText) -> str:
        """Record the message in the conversation; the id of that entry is returned."""
        try:
            return await to_thread.run_sync(partial(self._store, recipient, message))
        except SQLAlchemyError as exc:
            raise TransientSendError("database_unavailable", type(exc).__name__) from exc

    def _store(self, recipient: Recipient, message: OutboundText) -> str:
        with self._open_session() as db_session:
            if recipient.contact_id is not None:
                contact = db_session.get(ChannelContact, recipient.contact_id)
            else:
                contact = contacts.get(
                    db_session=db_session, channel=Channel.WEBCHAT, external_id=recipient.address
                )
            if contact is None or contact.channel != Channel.WEBCHAT:
                raise PermanentSendError("no_contact", "no such web chat session")
            interaction = gateway.record_outbound(
                db_session,
                contact,
                message.text,
                message.buttons,
                message.kind or "message",
                message.outbox_id,
            )
            db_session.commit()
            return str(interaction.id)

    async def aclose(self) -> None:
        return None


# --- the link of an e-mailed reminder -------------------------------------------------------


def webchat_link(settings: Settings, debtor_id: int, now: datetime) -> str:
    """A link to a new web chat bound to the debtor: single use, valid for the link TTL."""
    link = link_tokens.issue(
        debtor_id=debtor_id,
        secret=settings.link_token_secret,
        ttl_minutes=settings.link_token_ttl_minutes,
        now=now,
        purpose=link_tokens.WEBCHAT,
    )
    return f"{settings.public_base_url.rstrip('/')}/chat?link={link.token}"


def open_link(
    *,
    db_session: Session,
    session_id: str,
    token: str,
    language: Language | None,
    settings: Settings,
    now: datetime,
) -> str | None:
    """Bind the new session to the link's debtor and put their latest reminder first.

    Returns what to tell the person when the link cannot be used (the session still opens).
    The binding proves possession of the e-mail only: verification is still asked for.
    """
    contact = contacts.get_or_create(
        db_session=db_session, channel=Channel.WEBCHAT, external_id=session_id
    )
    secret, purpose = settings.link_token_secret, link_tokens.WEBCHAT
    try:
        link = link_tokens.verify(token=token, secret=secret, now=now, purpose=purpose)
        debtor = db_session.get(Debtor, link.debtor_id)
        if debtor is None:
            raise link_tokens.LinkTokenRefused("forged")
        link_tokens.redeem(
            db_session=db_session, token=token, secret=secret, now=now, purpose=purpose
        )
    except link_tokens.LinkTokenRefused as exc:
        log.info("web chat link refused for contact %s: %s", contact.id, exc.reason)
        record(
            db_session=db_session,
            event="webchat.link_refused",
            actor=Actor.DEBTOR,
            contact=contact,
            data={"reason": exc.reason},
        )
        db_session.commit()
        return translate(language.value if language else None, link_tokens.REFUSALS[exc.reason])
    contact.debtor_id = debtor.id
    contact.linked_at = now
    db_session.flush()
    db_session.refresh(contact)
    record(db_session=db_session, event="webchat.linked", actor=Actor.DEBTOR, contact=contact)
    _replay_latest_reminder(db_session=db_session, contact=contact, settings=settings, now=now)
    db_session.commit()
    log.info("web chat contact %s bound to debtor %s by link", contact.id, debtor.id)
    return None


def _replay_latest_reminder(
    *, db_session: Session, contact: ChannelContact, settings: Settings, now: datetime
) -> None:
    """The debtor's latest reminder, as it reads now, becomes the conversation's first turn."""
    latest = db_session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.debtor_id == contact.debtor_id,
            OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.debt_id.is_not(None),
        )
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return
    language = contact.debtor.preferred_language
    rendered = render_reminder(
        db_session,
        latest,
        language=language.value if language else "en",
        channel=OutboundChannel.WEBCHAT,
        settings=settings,
        now=now,
    )
    gateway.record_outbound(
        db_session, contact, rendered.text, rendered.buttons, latest.kind, latest.id
    )


def render_reminder(db_session: Session, message: OutboxMessage, **kwargs):
    """The campaign's renderer (`backend.campaigns.messages.render`), imported when used."""
    from backend.campaigns.messages import render

    return render(db_session, message, **kwargs)
