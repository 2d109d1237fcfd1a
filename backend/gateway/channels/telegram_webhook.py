"""Telegram over HTTP: the webhook Telegram calls, and the route that issues deep links.

The webhook answers Telegram quickly: it checks the secret header, queues the update on the
python-telegram-bot `Application` and returns. Anything unreadable is logged and answered
200, because Telegram keeps redelivering an update until it gets a success. The bot runs only
when `telegram_bot_token` is set; `telegram_lifespan` starts and stops it with the app.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, HTTPException, Request, Response, status
from pydantic import BaseModel
from telegram import Update

from backend.config import get_settings
from backend.db import SessionDep, get_db
from backend.deps import Now, SettingsDep, VerifiedDep, get_now
from backend.enums import Actor
from backend.exceptions import Conflict
from backend.gateway import link_tokens
from backend.gateway.channels.telegram import build_application
from backend.interactions.service import record

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Public: Telegram holds no service token; the secret header authenticates it.
webhook_router = APIRouter(prefix="/channels/telegram", tags=["telegram"])
# Behind the service token (mounted under /api/v1).
router = APIRouter(tags=["telegram"])


# A deep link that binds a Telegram chat to the contact's debtor.
class TelegramLinkRead(BaseModel):
    url: str
    expires_at: datetime


@asynccontextmanager
async def telegram_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the bot alongside the app when a token is configured.

    Settings, sessions and the clock are resolved through `app.dependency_overrides`, so the
    bot sees the same configuration as the routes (tests override them there).
    """

    def resolve(dependency):
        return app.dependency_overrides.get(dependency, dependency)

    settings = resolve(get_settings)()
    app.state.telegram = None
    if not settings.telegram_bot_token:
        yield
        return
    application = build_application(
        settings=settings, open_session=contextmanager(resolve(get_db)), now=resolve(get_now)
    )
    # Only run_polling and run_webhook call post_init and post_shutdown; here we do.
    async with application:
        await application.post_init(application)
        await application.start()
        app.state.telegram = application
        try:
            yield
        finally:
            app.state.telegram = None
            await application.stop()
            await application.post_shutdown(application)


@webhook_router.post("/webhook", include_in_schema=False)
async def telegram_webhook(
    request: Request,
    settings: SettingsDep,
    secret: Annotated[str | None, Header(alias=SECRET_HEADER)] = None,
) -> Response:
    application = getattr(request.app.state, "telegram", None)
    if application is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Telegram is not configured")
    if not secret:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="secret token required")
    expected = settings.telegram_webhook_secret
    if not expected or not secrets.compare_digest(secret.encode(), expected.encode()):
        log.warning("telegram webhook called with a wrong secret token")
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="wrong secret token")
    try:
        body = await request.json()
        update = Update.de_json(body, application.bot)
    except Exception as exc:  # whatever is unreadable is answered, or Telegram retries it
        log.warning("telegram webhook body unreadable: %s", type(exc).__name__)
        return Response(status_code=status.HTTP_200_OK)
    await application.update_queue.put(update)
    return Response(status_code=status.HTTP_200_OK)


@router.post("/contacts/{channel}/{external_id}/telegram-link", response_model=TelegramLinkRead)
def issue_telegram_link(
    verified: VerifiedDep, db_session: SessionDep, settings: SettingsDep, now: Now
) -> TelegramLinkRead:
    """A single-use `t.me` link that binds a Telegram chat to this verified contact's debtor."""
    if not settings.telegram_bot_username:
        raise Conflict("Telegram is not configured", reason_code="telegram_not_configured")
    link = link_tokens.issue(
        debtor_id=verified.debtor.id,
        secret=settings.link_token_secret,
        ttl_minutes=settings.link_token_ttl_minutes,
        now=now,
    )
    record(
        db_session=db_session,
        event="telegram.link_issued",
        actor=Actor.SYSTEM,
        contact=verified.contact,
        data={"expires_at": link.expires_at.isoformat()},
    )
    db_session.commit()
    username = settings.telegram_bot_username.lstrip("@")
    return TelegramLinkRead(
        url=f"https://t.me/{username}?start={link.token}", expires_at=link.expires_at
    )
