"""Telegram over HTTP: the webhook Telegram calls, and the route that issues deep links.

The webhook answers Telegram quickly: it checks the secret header, queues the update on the
python-telegram-bot `Application` and returns. Anything unreadable is logged and answered
200, because Telegram keeps redelivering an update until it gets a success. The bot runs only
when `telegram_bot_token` is set; the app's lifespan (`backend/gateway/lifespan.py`) starts and
stops it.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from pydantic import BaseModel
from telegram import Update

from backend.db import SessionDep
from backend.deps import Now, SettingsDep, VerifiedDep
from backend.enums import Actor
from backend.exceptions import Conflict
from backend.gateway import link_tokens
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


@webhook_router.post("/webhook", include_in_schema=False)
async def telegram_webhook(
    request: Request,
    settings: SettingsDep,
    secret: Annotated[str | None, Header(alias=SECRET_HEADER)] = None,
) -> Response:
    application = request.app.state.gateway.telegram
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
        # The bot keys its deduplication on it; Telegram's are integers.
        if type(update.update_id) is not int:
            raise TypeError("update_id is not an integer")
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
