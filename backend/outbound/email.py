"""Outbound e-mail over SMTP: one function, used by one-time codes now and reminders later.

The standard library's `smtplib`, with a timeout and the transport security the settings name
(STARTTLS on 587, implicit TLS on 465, or none, meant only for the development mailbox on
loopback). Every failure of the server or the network becomes `EmailNotSent`.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from backend.config import Settings

log = logging.getLogger(__name__)
# Sends run beside the request, so that the answer never waits on (or reveals) the SMTP server.
_senders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="email")


class EmailNotSent(Exception):
    """The message could not be handed to the SMTP server (or no server is configured)."""


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    body: str
    purpose: str  # for logs, which never name the recipient: "verification code for debtor 7"


def is_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def send_email(
    *,
    settings: Settings,
    to: str,
    subject: str,
    body: str,
    headers: dict[str, str] | None = None,
) -> str:
    """Hand one plain-text message to the SMTP server; returns its Message-ID.

    `headers` are added as they are (List-Unsubscribe for reminders).
    """
    if not is_configured(settings):
        raise EmailNotSent("no SMTP server configured (ACORDO_SMTP_HOST)")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=_sender_domain(settings.smtp_from))
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    try:
        with _connect(settings) as smtp:
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailNotSent(f"SMTP {settings.smtp_host}:{settings.smtp_port}: {exc}") from exc
    return message["Message-ID"]


def _connect(settings: Settings) -> smtplib.SMTP:
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.smtp_timeout_seconds
    if settings.smtp_security == "ssl":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    smtp = smtplib.SMTP(host, port, timeout=timeout)
    if settings.smtp_security == "starttls":
        try:
            smtp.starttls(context=ssl.create_default_context())
        except BaseException:
            smtp.close()
            raise
    return smtp


def _sender_domain(sender: str) -> str:
    address = sender.rsplit("<", 1)[-1].rstrip(">")
    return address.rpartition("@")[2] or "localhost"


def send_in_background(*, settings: Settings, email: OutgoingEmail) -> None:
    """Send without waiting; a failure is logged (by purpose, never by address)."""
    _senders.submit(_send_logged, settings, email)


def _send_logged(settings: Settings, email: OutgoingEmail) -> None:
    try:
        send_email(settings=settings, to=email.to, subject=email.subject, body=email.body)
    except EmailNotSent as exc:
        log.warning("e-mail not sent (%s): %s", email.purpose, exc)
    else:
        log.info("e-mail sent (%s)", email.purpose)
