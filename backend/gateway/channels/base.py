"""What every channel adapter offers the outbound path: send one message to one recipient.

The sender (`backend/gateway/sender.py`) decides *whether* and *where* a message goes (the
compliance gate, the channel order); an adapter only knows *how* to put it on its channel, and
says how it failed: `TransientSendError` is retried later with backoff, `PermanentSendError`
makes the sender try the next allowed channel. Both carry no personal data in their messages.

After a successful send on a conversation channel (Telegram, WhatsApp, web chat) the sender
calls `backend.gateway.inbound.record_outbound(...)` so that the reply continues in the bot;
the web chat's adapter has already recorded it when it returns (the call is then a no-op).
`build_adapters(settings)` in this package gives one adapter per channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from backend.gateway.models import OutboundChannel
from backend.gateway.rasa_client import Button


@dataclass(frozen=True)
class Recipient:
    channel: OutboundChannel
    # Chat id (Telegram), wa_id (WhatsApp), web chat session id, or an e-mail address.
    address: str
    # The channel contact it belongs to; None for e-mail, which has no conversation.
    contact_id: int | None
    language: str  # a catalog language (locales.LANGUAGES)
    # The debtor written to: e-mail signs its unsubscribe link with it.
    debtor_id: int | None = None


@dataclass(frozen=True)
class TemplateCall:
    """An approved WhatsApp template, the only kind allowed outside the 24-hour window.

    Leave `name` empty for the template configured for the recipient's language
    (`ACORDO_WHATSAPP_TEMPLATES`); no template configured is a `PermanentSendError`.
    """

    name: str = ""
    language_code: str = ""
    parameters: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OutboundText:
    text: str
    buttons: list[Button] = field(default_factory=list)
    subject: str | None = None  # e-mail only
    # Set when the gate allows only a template on WhatsApp; `text` is then not sent there.
    template: TemplateCall | None = None
    # The outbox message it comes from, and its kind: recorded with the message.
    outbox_id: int | None = None
    kind: str | None = None


class SendError(Exception):
    """A message was not delivered; `reason` is a short code recorded with the attempt."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# The reason of a provider's "too many requests" (429): flow control, not a failure. The sender
# waits as told and tries again; it never counts towards giving up on the channel.
RATE_LIMITED = "rate_limited"


class TransientSendError(SendError):
    """Try the same channel again later (timeouts, 5xx, 429 with its retry-after)."""

    def __init__(self, reason: str, detail: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(reason, detail)
        self.retry_after = retry_after


class DeliveryUncertain(SendError):
    """The request may have reached the provider (it timed out after being sent).

    Never retried: a second copy of a collection message is worse than a missing one, and
    the sender records the message as in doubt instead.
    """


class PermanentSendError(SendError):
    """The channel refuses this message for good (blocked bot, unknown chat, no template)."""


class ChannelAdapter(Protocol):
    channel: OutboundChannel

    def available(self) -> bool:
        """Configured on this deployment (a token, an SMTP host…)."""

    async def send(self, recipient: Recipient, message: OutboundText) -> str:
        """Deliver the message; return the provider's message id."""

    async def aclose(self) -> None: ...
