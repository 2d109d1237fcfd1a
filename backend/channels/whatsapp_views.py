"""The WhatsApp Cloud API webhook: Meta's verification handshake and its signed deliveries.

No service token here: Meta calls these routes. The GET handshake proves the URL is ours
(the verify token); each POST proves it comes from Meta (the app secret's signature).
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request, status
from fastapi.responses import PlainTextResponse

from backend.channels import whatsapp
from backend.channels.whatsapp_service import handle_delivery
from backend.config import Settings
from backend.db import SessionDep, session_factory
from backend.deps import Now, SettingsDep

log = logging.getLogger(__name__)

router = APIRouter(prefix="/channels/whatsapp", tags=["whatsapp"])


def _require_configured(settings: Settings) -> None:
    missing = whatsapp.missing_settings(settings)
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
    signature = request.headers.get(whatsapp.SIGNATURE_HEADER)
    if not whatsapp.signature_is_valid(
        app_secret=settings.whatsapp_app_secret, body=body, header=signature
    ):
        log.warning("refused a WhatsApp webhook: %s signature", "bad" if signature else "no")
        raise _refuse(status.HTTP_401_UNAUTHORIZED, "invalid_signature", "invalid signature")
    try:
        delivery = whatsapp.parse_webhook(body)
    except whatsapp.MalformedPayload as exc:
        log.warning("refused a malformed WhatsApp webhook: %s", exc)
        raise _refuse(
            status.HTTP_400_BAD_REQUEST, "malformed_payload", "not a WhatsApp webhook payload"
        ) from exc
    # The request's session closes with the response; the handling opens its own on one engine.
    sessions = session_factory(db_session.get_bind())
    background.add_task(
        handle_delivery, sessions=sessions, delivery=delivery, settings=settings, now=now
    )
    return {"status": "received"}
