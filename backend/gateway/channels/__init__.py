"""One module per channel (web chat, Telegram, WhatsApp, e-mail), each with both directions.

`build_adapters(settings)` gives the outbound adapter of every channel (`base.ChannelAdapter`);
those not configured on this deployment say so with `available()`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from backend.config import Settings
from backend.gateway.channels.base import ChannelAdapter
from backend.gateway.models import OutboundChannel

if TYPE_CHECKING:
    from telegram.ext import Application

    from backend.gateway.channels.whatsapp_api import GraphClient


def build_adapters(
    settings: Settings,
    *,
    open_session: Callable[[], AbstractContextManager[Session]] | None = None,
    telegram: Application | None = None,
    whatsapp: GraphClient | None = None,
) -> dict[OutboundChannel, ChannelAdapter]:
    """An adapter per channel; the app lends its running Telegram bot and Graph API client.

    `open_session` is where the web chat stores messages (default: the configured database).
    """
    # Imported here: the channel modules import the inbound path, which imports `base`.
    from backend.gateway.channels.email import EmailAdapter
    from backend.gateway.channels.telegram import TelegramAdapter
    from backend.gateway.channels.webchat import WebchatAdapter
    from backend.gateway.channels.whatsapp import WhatsAppAdapter

    adapters: list[ChannelAdapter] = [
        WebchatAdapter(settings, open_session=open_session),
        TelegramAdapter(settings, application=telegram),
        WhatsAppAdapter(settings, graph=whatsapp),
        EmailAdapter(settings),
    ]
    return {adapter.channel: adapter for adapter in adapters}
