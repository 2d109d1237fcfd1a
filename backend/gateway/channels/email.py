"""The e-mail channel: send only. Reminders go out over SMTP with a link to stop them.

E-mail has no conversation: replies are not read, and the message invites the person to the web
chat instead (`webchat.webchat_link`). Every message carries a signed unsubscribe link (in the
`List-Unsubscribe` header, which mail clients show as a button, and at the end of the body):
`GET /unsubscribe/{token}` stops e-mail for that debtor (`Debtor.email_opted_out_at`) and says
so in the debtor's language; `POST` is the same for one-click clients (RFC 8058). The SMTP call
runs on a worker thread with the configured SMTP timeout; the server's answer decides whether
the sender retries (4xx, no answer) or tries the next channel (5xx).
"""

from __future__ import annotations

import html
import logging
import re
import smtplib
from datetime import datetime
from functools import partial

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import SessionDep
from backend.debtors.models import Debtor
from backend.deps import MAX_ROW_ID, Now, SettingsDep
from backend.enums import Actor
from backend.gateway import link_tokens
from backend.gateway.channels.base import (
    OutboundText,
    PermanentSendError,
    Recipient,
    TransientSendError,
)
from backend.gateway.language import accepted_language
from backend.gateway.models import OutboundChannel
from backend.interactions.service import record
from backend.outbound.email import EmailNotSent, is_configured, send_email
from locales import translate

log = logging.getLogger(__name__)

UNSUBSCRIBE_PATH = "/unsubscribe"
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

# Public: the person follows the link from their mailbox; the signature authenticates it.
router = APIRouter(tags=["e-mail"])


def unsubscribe_link(settings: Settings, debtor_id: int, now: datetime | None = None) -> str:
    """The debtor's unsubscribe link: signed, never expiring (`now` is unused), reusable."""
    token = link_tokens.sign_debtor(debtor_id=debtor_id, secret=settings.link_token_secret)
    return f"{settings.public_base_url.rstrip('/')}{UNSUBSCRIBE_PATH}/{token}"


class EmailAdapter:
    """Sends the messages the assistant starts to an e-mail address (`Recipient.address`)."""

    channel = OutboundChannel.EMAIL

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def available(self) -> bool:
        return is_configured(self._settings)

    async def send(self, recipient: Recipient, message: OutboundText) -> str:
        """Send the text (with the unsubscribe link) as a plain-text e-mail; the Message-ID."""
        if not self.available():
            raise PermanentSendError("not_configured", "no SMTP server configured")
        link = self._unsubscribe_link(recipient, message.text)
        body = message.text
        if link not in body:
            footer = translate(
                recipient.language, "To stop receiving these e-mails, open: {link}", link=link
            )
            body = f"{body}\n\n--\n{footer}"
        send = partial(
            send_email,
            settings=self._settings,
            to=recipient.address,
            subject=message.subject
            or translate(recipient.language, "A message about your account"),
            body=body,
            headers={
                "List-Unsubscribe": f"<{link}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        try:
            return await to_thread.run_sync(send)
        except EmailNotSent as exc:
            raise send_error(exc) from exc

    def _unsubscribe_link(self, recipient: Recipient, body: str) -> str:
        # Without the debtor, the link the renderer wrote in the body serves the header too.
        if recipient.debtor_id is not None:
            return unsubscribe_link(self._settings, recipient.debtor_id)
        base = f"{self._settings.public_base_url.rstrip('/')}{UNSUBSCRIBE_PATH}/"
        found = re.search(re.escape(base) + r"[A-Za-z0-9_-]+", body)
        if found is None:  # never an e-mail without a way to stop them
            raise PermanentSendError("no_unsubscribe_link", "no debtor and no link in the body")
        return found.group(0)

    async def aclose(self) -> None:
        return None


def send_error(exc: EmailNotSent) -> TransientSendError | PermanentSendError:
    """SMTP's answer: 5xx is final for this address, 4xx and no answer are worth a retry."""
    cause = exc.__cause__
    codes: list[int] = []
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in cause.recipients.values()]
    elif isinstance(cause, smtplib.SMTPResponseException):
        codes = [cause.smtp_code]
    if codes and all(500 <= code < 600 for code in codes):
        return PermanentSendError("smtp_refused", f"SMTP {codes[0]}")
    if codes:
        return TransientSendError("smtp_deferred", f"SMTP {codes[0]}")
    return TransientSendError("smtp_unreachable", type(cause).__name__ if cause else "")


# --- the unsubscribe link -----------------------------------------------------------------


@router.get(UNSUBSCRIBE_PATH + "/{token}", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe_page(
    token: str, request: Request, db_session: SessionDep, settings: SettingsDep, now: Now
) -> HTMLResponse:
    """Stop e-mail for the link's debtor and say so in their language."""
    debtor = _unsubscribe(db_session=db_session, token=token, settings=settings, now=now)
    fallback = accepted_language(request.headers.get("Accept-Language"))
    if debtor is None:
        language = fallback.value
        title = translate(language, "This link is not valid")
        text = translate(language, "This unsubscribe link is not valid. Please contact us.")
        return _page(language, title, text, status_code=404)
    language = (debtor.preferred_language or fallback).value
    title = translate(language, "You are unsubscribed")
    text = translate(
        language,
        "Done: you will receive no more e-mails from us. You can still write to us in the chat "
        "at any time.",
    )
    return _page(language, title, text)


@router.post(UNSUBSCRIBE_PATH + "/{token}", include_in_schema=False)
def unsubscribe_one_click(
    token: str, db_session: SessionDep, settings: SettingsDep, now: Now
) -> Response:
    """RFC 8058's one-click unsubscribe, posted by the mail client itself."""
    debtor = _unsubscribe(db_session=db_session, token=token, settings=settings, now=now)
    return Response(status_code=200 if debtor is not None else 404)


def _unsubscribe(
    *, db_session: Session, token: str, settings: Settings, now: datetime
) -> Debtor | None:
    try:
        debtor_id = link_tokens.debtor_of(token=token, secret=settings.link_token_secret)
    except link_tokens.LinkTokenRefused:
        log.info("unsubscribe link refused: forged")
        return None
    # A signed id past any row (the token holds 64 unsigned bits) names nobody.
    debtor = db_session.get(Debtor, debtor_id) if debtor_id <= MAX_ROW_ID else None
    if debtor is None:
        return None
    if debtor.email_opted_out_at is None:
        debtor.email_opted_out_at = now
        record(
            db_session=db_session,
            event="debtor.email_opted_out",
            actor=Actor.DEBTOR,
            debtor_id=debtor.id,
            data={"via": "unsubscribe_link"},
        )
        db_session.commit()
        log.info("debtor %s unsubscribed from e-mail", debtor.id)
    return debtor


def _page(language: str, title: str, text: str, *, status_code: int = 200) -> HTMLResponse:
    lang = html.escape(language.replace("_", "-"))
    body = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>body{{font-family:system-ui,sans-serif;"
        "max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></main></body></html>"
    )
    return HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)
