"""The app's lifespan: the gateway's long-lived clients, opened with the app and closed with it.

One `RasaClient` (a keep-alive connection pool) serves the web chat, Telegram and WhatsApp; the
Telegram bot runs alongside the app when a token is configured; WhatsApp's Graph API client is
opened when the channel is configured; and the outbound adapters (`channels.build_adapters`)
share those clients. Settings, sessions and the clock resolve through
`app.dependency_overrides`, so the clients see the same configuration as the routes (tests
override them there, before the app starts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from telegram.ext import Application

from backend.config import get_settings
from backend.db import get_db
from backend.deps import get_now
from backend.gateway.channels import build_adapters
from backend.gateway.channels.base import ChannelAdapter
from backend.gateway.channels.telegram import build_application
from backend.gateway.channels.whatsapp_api import GraphClient, missing_settings
from backend.gateway.models import OutboundChannel
from backend.gateway.rasa_client import RasaClient


@dataclass
class GatewayClients:
    """What the lifespan opened, kept in `app.state.gateway`."""

    rasa: RasaClient
    telegram: Application | None = None
    whatsapp: GraphClient | None = None
    adapters: dict[OutboundChannel, ChannelAdapter] = field(default_factory=dict)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the clients, run the Telegram bot if configured, and close everything at shutdown."""

    def resolve(dependency):
        return app.dependency_overrides.get(dependency, dependency)

    settings = resolve(get_settings)()
    open_session = contextmanager(resolve(get_db))
    async with AsyncExitStack() as stack:
        rasa = await stack.enter_async_context(RasaClient.from_settings(settings))
        clients = GatewayClients(rasa=rasa)
        if not missing_settings(settings):
            clients.whatsapp = await stack.enter_async_context(GraphClient(settings=settings))
        if settings.telegram_bot_token:
            clients.telegram = build_application(
                settings=settings, open_session=open_session, now=resolve(get_now), rasa=rasa
            )
            await stack.enter_async_context(_running(clients.telegram))
        clients.adapters = build_adapters(
            settings,
            open_session=open_session,
            telegram=clients.telegram,
            whatsapp=clients.whatsapp,
        )
        for adapter in clients.adapters.values():
            stack.push_async_callback(adapter.aclose)
        # Two clients of one app (tests) nest lifespans: each puts back what it found.
        outer = getattr(app.state, "gateway", None)
        app.state.gateway = clients
        try:
            yield
        finally:
            app.state.gateway = outer


@asynccontextmanager
async def _running(application: Application) -> AsyncIterator[Application]:
    # Only run_polling and run_webhook call post_init and post_shutdown; here we do.
    async with application:
        await application.post_init(application)
        await application.start()
        try:
            yield application
        finally:
            await application.stop()
            await application.post_shutdown(application)


def gateway_clients(request: Request) -> GatewayClients:
    return request.app.state.gateway


def rasa_client(request: Request) -> RasaClient:
    """The app's one Rasa client (a route dependency)."""
    return gateway_clients(request).rasa


GatewayDep = Annotated[GatewayClients, Depends(gateway_clients)]
RasaDep = Annotated[RasaClient, Depends(rasa_client)]
