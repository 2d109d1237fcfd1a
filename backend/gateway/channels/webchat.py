"""The web chat: its page and the public API the page talks to.

These routes need no service token: the customer's browser calls them. A session id is just
a random name for a web chat contact; it proves nothing, and debt details still need the
identity verification the bot asks for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from backend.config import Settings
from backend.db import SessionDep
from backend.deps import Now, SettingsDep
from backend.enums import Channel, Language
from backend.exceptions import InvalidRequest, RateLimited
from backend.gateway import inbound as gateway
from backend.gateway.channels import webchat_sessions
from backend.gateway.language import accepted_language
from backend.gateway.rasa_client import BotMessage, Button, RasaClient
from locales import format_number, translate

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

router = APIRouter(prefix="/chat", tags=["web chat"])


async def rasa_client(settings: SettingsDep) -> AsyncIterator[RasaClient]:
    async with RasaClient.from_settings(settings) as client:
        yield client


RasaDep = Annotated[RasaClient, Depends(rasa_client)]


def within_rate_limit(request: Request, settings: SettingsDep) -> None:
    """Count the request against its client address; 429 in the browser's language when over."""
    address = request.client.host if request.client else "unknown"
    retry_after = request.app.state.webchat_limiter.hit(
        rate=settings.webchat_rate_limit, address=address, scope="webchat"
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


# A new web chat conversation.
class SessionRead(BaseModel):
    session_id: str


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
def start_session(response: Response, settings: SettingsDep) -> SessionRead:
    """A new conversation: the server names it, the browser only keeps the name."""
    response.headers.update(NO_STORE)
    return SessionRead(session_id=webchat_sessions.issue(secret=settings.contact_signing_secret))


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
    )
    response.headers.update(NO_STORE)
    return ChatReply(messages=replies)


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
