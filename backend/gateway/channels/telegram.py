"""The Telegram channel: the bot's handlers for private chats, and the outbound adapter.

The same `Application` serves webhook mode (built with `.updater(None)`; the FastAPI route in
`telegram_webhook` puts updates on its queue) and polling mode (`telegram_polling`). The chat id
is the sender id the gateway sees. Rasa owns the dialogue, so there is no ConversationHandler:
text and button presses go to `handle_inbound`, and what it returns is sent back with inline
keyboards. Sending respects Telegram's limits: about 30 messages a second overall and
`retry_after` on HTTP 429 (`AIORateLimiter`), and one message a second to one chat (`ChatPacer`).
`TelegramAdapter` sends through the running bot when there is one (same limits, same pacer),
else through its own `ExtBot` (the sender process); Telegram's refusals become the outbound
path's `TransientSendError` or `PermanentSendError`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import httpx
from anyio import to_thread
from sqlalchemy.orm import Session
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from backend.config import Settings
from backend.contacts import service as contacts
from backend.contacts.models import ChannelContact
from backend.debtors.models import Debtor
from backend.enums import Actor, Channel, Language
from backend.gateway import inbound as gateway
from backend.gateway import link_tokens
from backend.gateway.channels.base import (
    RATE_LIMITED,
    DeliveryUncertain,
    OutboundText,
    PermanentSendError,
    Recipient,
    TransientSendError,
)
from backend.gateway.dedup import first_delivery
from backend.gateway.language import conversation_language
from backend.gateway.models import OutboundChannel
from backend.gateway.rasa_client import BotMessage, Button, RasaClient
from backend.interactions.models import Direction
from backend.interactions.service import record
from locales import N_, format_number, normalize_language, translate

log = logging.getLogger(__name__)

# Longer texts are refused politely rather than forwarded (Telegram itself allows 4096).
MAX_MESSAGE_CHARS = 2000
# Telegram refuses callback_data over 64 bytes; longer payloads travel as "#" + a digest.
MAX_CALLBACK_BYTES = 64
_DIGEST_PREFIX = "#"
_DIGEST_CHARS = 22
# Telegram needs some text on a message; a keyboard with nothing to attach to gets this.
_KEYBOARD_ONLY_TEXT = "👇"
LINKED = N_(
    "Your Telegram chat is now linked to your account. Before I show any debt details, I will "
    "still ask you to confirm who you are."
)
LINK_REFUSED = link_tokens.REFUSALS
TEXT_ONLY = N_("Sorry, I can only read text.")
TOO_LONG = N_("Your message is too long: please keep it under {limit} characters.")
# Each call to the Bot API from the outbound adapter gives up after this long.
SEND_TIMEOUT_SECONDS = 10.0


class ChatPacer:
    """At most one message per `interval` seconds to each chat, as Telegram asks."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next_slot: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def wait(self, chat_id: int) -> None:
        """Sleep until this chat may receive its next message (slots are booked in order)."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            now = loop.time()
            slot = max(now, self._next_slot.get(chat_id, now))
            self._next_slot[chat_id] = slot + self._interval
            if len(self._next_slot) > 1024:  # forget chats whose slot has passed
                self._next_slot = {c: t for c, t in self._next_slot.items() if t > now}
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass
class TelegramDeps:
    """What the handlers need, kept in `application.bot_data`."""

    settings: Settings
    open_session: Callable[[], AbstractContextManager[Session]]
    now: Callable[[], datetime]
    pacer: ChatPacer
    rasa: RasaClient | None = field(default=None)
    owns_rasa: bool = False  # polling mode opens its own client; the app lends its one


def build_application(
    *,
    settings: Settings,
    open_session: Callable[[], AbstractContextManager[Session]],
    now: Callable[[], datetime],
    polling: bool = False,
    per_chat_interval: float = 1.0,
    rasa: RasaClient | None = None,
) -> Application:
    """The bot: webhook mode unless `polling`; `telegram_api_base_url` picks the Bot API.

    `rasa` is the app's client; without one (polling mode) the bot opens and closes its own.
    """
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_api_base_url)
        .rate_limiter(AIORateLimiter(overall_max_rate=30, overall_time_period=1, max_retries=3))
        .post_init(_open_clients)
        .post_shutdown(_close_clients)
    )
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data["deps"] = TelegramDeps(
        settings=settings,
        open_session=open_session,
        now=now,
        pacer=ChatPacer(per_chat_interval),
        rasa=rasa,
    )
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(Update, skip_duplicates), group=-1)
    application.add_handler(CommandHandler("start", on_start, filters=private))
    application.add_handler(CallbackQueryHandler(on_button))
    message = filters.UpdateType.MESSAGE & private
    application.add_handler(MessageHandler(message & filters.TEXT, on_text))
    application.add_handler(MessageHandler(message & ~filters.StatusUpdate.ALL, on_not_text))
    application.add_handler(TypeHandler(Update, on_ignored))
    application.add_error_handler(on_error)
    return application


async def register_webhook(*, application: Application, url: str) -> None:
    """Tell Telegram where to deliver updates, with the secret it must present."""
    await application.bot.set_webhook(
        url=url,
        secret_token=application.bot_data["deps"].settings.telegram_webhook_secret or None,
        allowed_updates=["message", "edited_message", "callback_query"],
    )


async def _open_clients(application: Application) -> None:
    deps: TelegramDeps = application.bot_data["deps"]
    if deps.rasa is None:
        deps.rasa, deps.owns_rasa = RasaClient.from_settings(deps.settings), True


async def _close_clients(application: Application) -> None:
    deps: TelegramDeps = application.bot_data["deps"]
    if deps.rasa is not None and deps.owns_rasa:
        await deps.rasa.aclose()
        deps.rasa, deps.owns_rasa = None, False


# --- handlers -------------------------------------------------------------------------


async def skip_duplicates(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop an update Telegram already delivered, so it is answered once."""
    deps = _deps(context)
    if not await to_thread.run_sync(partial(_first_delivery, deps, update.update_id)):
        log.info("telegram update %s delivered again: skipped", update.update_id)
        raise ApplicationHandlerStop


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Bind the chat to a debtor with a deep-link token, or greet like any first message."""
    if not context.args:
        await _converse(update, context, update.effective_message.text)
        return
    deps = _deps(context)
    chat_id = update.effective_chat.id
    refusal, language = await to_thread.run_sync(
        partial(_bind, deps, str(chat_id), context.args[0], _hint(update))
    )
    text = LINKED if refusal is None else LINK_REFUSED[refusal]
    await send_replies(deps=deps, bot=context.bot, chat_id=chat_id, replies=[_say(language, text)])


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forward what the person typed; a leading "/" is stripped by the gateway."""
    text = update.effective_message.text
    if len(text) > MAX_MESSAGE_CHARS:
        await _refuse(update, context, kind="too_long")
        return
    await _converse(update, context, text)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forward the payload of an inline keyboard button the bot sent."""
    query = update.callback_query
    await query.answer()
    if query.message is None or query.message.chat.type != "private" or not query.data:
        return
    deps = _deps(context)
    payload = await to_thread.run_sync(
        partial(_resolve_payload, deps, str(query.message.chat.id), query.data)
    )
    await _converse(update, context, payload)


async def on_not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice notes, files: say politely that only text is read."""
    await _refuse(update, context, kind="not_text")


async def on_ignored(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log updates no handler takes: edits, group chats, update types not used."""
    kinds = [name for name, value in update.to_dict().items() if name != "update_id" and value]
    log.info("telegram update %s ignored (%s)", update.update_id, ",".join(kinds) or "empty")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a failed update; Telegram is not asked to redeliver it."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("telegram update %s failed", update_id, exc_info=context.error)


# --- sending --------------------------------------------------------------------------


async def send_replies(*, deps: TelegramDeps, bot, chat_id: int, replies: list[BotMessage]) -> None:
    """Send the bot's messages in order, buttons as inline keyboards, paced per chat."""
    for reply in _attach_lone_keyboards(replies):
        await deps.pacer.wait(chat_id)
        await bot.send_message(
            chat_id=chat_id,
            text=reply.text or _KEYBOARD_ONLY_TEXT,
            reply_markup=keyboard(reply.buttons),
        )


def keyboard(buttons: list[Button]) -> InlineKeyboardMarkup | None:
    """One button per row: titles are sentences, and rows of long titles get cut."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.title, callback_data=callback_data(b.payload))] for b in buttons]
    )


def callback_data(payload: str) -> str:
    """The payload itself, or "#" + its digest when Telegram would refuse its length."""
    if len(payload.encode()) <= MAX_CALLBACK_BYTES:
        return payload
    return _DIGEST_PREFIX + _digest(payload)


def _digest(payload: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(payload.encode()).digest()).decode()[
        :_DIGEST_CHARS
    ]


def _attach_lone_keyboards(replies: list[BotMessage]) -> list[BotMessage]:
    # Rasa may send buttons as a message of their own; they belong under the text before them.
    merged: list[BotMessage] = []
    for reply in replies:
        if not reply.text and merged and not merged[-1].buttons:
            merged[-1] = BotMessage(text=merged[-1].text, buttons=reply.buttons)
        else:
            merged.append(reply)
    return merged


# --- the work behind the handlers -------------------------------------------------------


def _deps(context: ContextTypes.DEFAULT_TYPE) -> TelegramDeps:
    return context.application.bot_data["deps"]


def _hint(update: Update) -> Language | None:
    user = update.effective_user
    if user is None or not user.language_code:
        return None
    return Language(normalize_language(user.language_code))


def _say(language: Language | None, message_id: str, **params: object) -> BotMessage:
    return BotMessage(text=translate(language.value if language else None, message_id, **params))


async def _converse(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    deps = _deps(context)
    chat_id = update.effective_chat.id
    with deps.open_session() as db_session:
        replies = await gateway.handle_inbound(
            db_session=db_session,
            channel=Channel.TELEGRAM,
            external_id=str(chat_id),
            text=text,
            language_hint=_hint(update),
            rasa=deps.rasa,
            now=deps.now(),
            settings=deps.settings,
        )
    await send_replies(deps=deps, bot=context.bot, chat_id=chat_id, replies=replies)


async def _refuse(update: Update, context: ContextTypes.DEFAULT_TYPE, *, kind: str) -> None:
    deps = _deps(context)
    chat_id = update.effective_chat.id
    language = await to_thread.run_sync(
        partial(_record_unsupported, deps, str(chat_id), kind, _hint(update))
    )
    if kind == "too_long":
        limit = format_number(MAX_MESSAGE_CHARS, language.value if language else None)
        reply = _say(language, TOO_LONG, limit=limit)
    else:
        reply = _say(language, TEXT_ONLY)
    await send_replies(deps=deps, bot=context.bot, chat_id=chat_id, replies=[reply])


def _first_delivery(deps: TelegramDeps, update_id: int) -> bool:
    with deps.open_session() as db_session:
        return first_delivery(
            db_session=db_session, channel=Channel.TELEGRAM, update_id=str(update_id)
        )


def _contact(db_session: Session, chat_id: str) -> ChannelContact:
    return contacts.get_or_create(
        db_session=db_session, channel=Channel.TELEGRAM, external_id=chat_id
    )


def _record_unsupported(
    deps: TelegramDeps, chat_id: str, kind: str, hint: Language | None
) -> Language | None:
    # Only the kind is kept: a photo or a voice note may hold personal data.
    with deps.open_session() as db_session:
        contact = _contact(db_session, chat_id)
        record(
            db_session=db_session,
            event="message.unsupported",
            actor=Actor.DEBTOR,
            direction=Direction.INBOUND,
            contact=contact,
            data={"kind": kind},
        )
        db_session.commit()
        return conversation_language(contact, hint)


def _bind(
    deps: TelegramDeps, chat_id: str, token: str, hint: Language | None
) -> tuple[str | None, Language | None]:
    """Redeem the token for this chat: the refusal reason (None when bound) and the language."""
    settings = deps.settings
    now = deps.now()
    with deps.open_session() as db_session:
        contact = _contact(db_session, chat_id)
        try:
            link = link_tokens.verify(token=token, secret=settings.link_token_secret, now=now)
            if db_session.get(Debtor, link.debtor_id) is None:
                raise link_tokens.LinkTokenRefused("forged")
            if contact.debtor_id not in (None, link.debtor_id):
                raise link_tokens.LinkTokenRefused("bound_elsewhere")
            link_tokens.redeem(
                db_session=db_session, token=token, secret=settings.link_token_secret, now=now
            )
        except link_tokens.LinkTokenRefused as exc:
            log.info("telegram link refused for contact %s: %s", contact.id, exc.reason)
            record(
                db_session=db_session,
                event="telegram.link_refused",
                actor=Actor.DEBTOR,
                contact=contact,
                data={"reason": exc.reason},
            )
            db_session.commit()
            return exc.reason, conversation_language(contact, hint)
        contact.debtor_id = link.debtor_id
        contact.linked_at = now  # possession of the chat: knowledge alone verifies it
        db_session.flush()
        db_session.refresh(contact)
        record(db_session=db_session, event="telegram.linked", actor=Actor.DEBTOR, contact=contact)
        db_session.commit()
        log.info("telegram contact %s bound to debtor %s", contact.id, link.debtor_id)
        return None, conversation_language(contact, hint)


def _resolve_payload(deps: TelegramDeps, chat_id: str, data: str) -> str:
    # A digest stands for a long payload of the bot's last turn; anything else is the payload.
    if not (data.startswith(_DIGEST_PREFIX) and len(data) == 1 + _DIGEST_CHARS):
        return data
    with deps.open_session() as db_session:
        contact = _contact(db_session, chat_id)
        offered = gateway.offered_payloads(db_session=db_session, contact=contact)
        db_session.commit()
    for payload in offered:
        if _digest(payload) == data[1:]:
            return payload
    return data


# --- the outbound adapter ---------------------------------------------------------------


class TelegramAdapter:
    """Sends the messages the assistant starts to a Telegram chat (`Recipient.address`)."""

    channel = OutboundChannel.TELEGRAM

    def __init__(self, settings: Settings, *, application: Application | None = None) -> None:
        """Sends through `application`'s bot and pacer when given (the app), else its own."""
        self._settings = settings
        self._bot: Bot | None = application.bot if application is not None else None
        self._pacer = application.bot_data["deps"].pacer if application is not None else None
        self._owns_bot = application is None
        self._started = application is not None
        self._starting = asyncio.Lock()

    def available(self) -> bool:
        return bool(self._settings.telegram_bot_token)

    async def send(self, recipient: Recipient, message: OutboundText) -> str:
        """Send the text with its buttons as an inline keyboard; the message id is returned."""
        if not self.available():
            raise PermanentSendError("not_configured", "no Telegram bot token")
        try:
            chat_id = int(recipient.address)
        except ValueError as exc:
            raise PermanentSendError("bad_address", "a Telegram chat id is a number") from exc
        try:
            bot = await self._ready_bot()
            await self._pacer.wait(chat_id)
            sent = await bot.send_message(
                chat_id=chat_id,
                text=message.text or _KEYBOARD_ONLY_TEXT,
                reply_markup=keyboard(message.buttons),
                read_timeout=SEND_TIMEOUT_SECONDS,
                write_timeout=SEND_TIMEOUT_SECONDS,
                connect_timeout=SEND_TIMEOUT_SECONDS,
                pool_timeout=SEND_TIMEOUT_SECONDS,
            )
        except TelegramError as exc:
            raise send_error(exc) from exc
        return str(sent.message_id)

    async def _ready_bot(self) -> Bot:
        async with self._starting:  # concurrent first sends start one bot
            return await self._start_bot()

    async def _start_bot(self) -> Bot:
        if self._bot is None:
            timeout = SEND_TIMEOUT_SECONDS
            self._bot = ExtBot(
                token=self._settings.telegram_bot_token,
                base_url=self._settings.telegram_api_base_url,
                request=HTTPXRequest(
                    connect_timeout=timeout,
                    read_timeout=timeout,
                    write_timeout=timeout,
                    pool_timeout=timeout,
                ),
                # Retrying is the sender's job (with backoff): a 429 comes back at once.
                rate_limiter=AIORateLimiter(
                    overall_max_rate=30, overall_time_period=1, max_retries=0
                ),
            )
            self._pacer = ChatPacer(1.0)
        if not self._started:
            await self._bot.initialize()
            self._started = True
        return self._bot

    async def aclose(self) -> None:
        if self._owns_bot and self._bot is not None and self._started:
            await self._bot.shutdown()
            self._started = False


_NEVER_SENT = (httpx.ConnectTimeout, httpx.PoolTimeout)


def send_error(exc: TelegramError) -> TransientSendError | PermanentSendError | DeliveryUncertain:
    """What a Bot API failure means for the outbound path: retry later, or try another channel."""
    if isinstance(exc, RetryAfter):
        seconds = exc._retry_after.total_seconds()  # the property warns: deprecated as a number
        return TransientSendError(RATE_LIMITED, retry_after=seconds)
    if isinstance(exc, Forbidden):  # the person blocked the bot, or never started it
        return PermanentSendError("blocked", exc.message[:200])
    if isinstance(exc, BadRequest):  # chat not found, and anything Telegram will never accept
        return PermanentSendError("refused", exc.message[:200])
    if isinstance(exc, TimedOut):
        # python-telegram-bot raises TimedOut for every httpx timeout; its cause tells a request
        # that never left (no connection, none free in the pool: retried) from one sent and
        # not answered, which may have been delivered (not retried, see DeliveryUncertain).
        if isinstance(exc.__cause__, _NEVER_SENT):
            return TransientSendError("unreachable", type(exc.__cause__).__name__)
        return DeliveryUncertain("no_answer", type(exc).__name__)
    if isinstance(exc, NetworkError):
        return TransientSendError("unreachable", type(exc).__name__)
    return TransientSendError("telegram_error", type(exc).__name__)
