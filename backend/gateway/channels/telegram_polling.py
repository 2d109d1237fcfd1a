"""Polling mode for local use, and the one-off registration of the webhook for production.

Run `python -m backend.cli telegram-poll` to poll (no public URL needed); starting to poll
removes any webhook the bot had, so use one mode at a time. `telegram-set-webhook <url>`
registers the webhook with `telegram_webhook_secret`.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application

from backend.config import Settings
from backend.db import get_engine, session_factory, utcnow
from backend.gateway.channels.telegram import build_application, register_webhook


def build_polling_application(settings: Settings) -> Application:
    """The bot with an updater, on the configured database; nothing is contacted yet."""
    if not settings.telegram_bot_token:
        raise ValueError("set ACORDO_TELEGRAM_BOT_TOKEN to the token BotFather gave you")
    sessions = session_factory(get_engine())
    return build_application(settings=settings, open_session=sessions, now=utcnow, polling=True)


def run_polling(settings: Settings) -> None:
    """Poll until interrupted (Ctrl-C)."""
    build_polling_application(settings).run_polling(allowed_updates=Update.ALL_TYPES)


async def set_webhook(settings: Settings, url: str) -> None:
    """Register `url` with Telegram, with the secret it must send back."""
    if not settings.telegram_webhook_secret:
        raise ValueError("set ACORDO_TELEGRAM_WEBHOOK_SECRET first: the webhook refuses all else")
    application = build_polling_application(settings)
    async with application:
        await register_webhook(application=application, url=url)
