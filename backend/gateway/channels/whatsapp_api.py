"""The WhatsApp Cloud API as the channel speaks it: signatures, payloads, the Graph API, templates.

Meta signs each webhook with the app secret over the raw body; nothing is parsed or stored
before that signature is checked (`signature_is_valid`). A delivery carries the messages and
statuses of a business number (`parse_webhook`). Bot messages become text, reply-button or
list messages (`message_payload`) sent with `GraphClient`. WhatsApp allows free-form messages
only within 24 hours of the person's last message (`in_service_window`); outside it only an
approved template (`template_for`, `template_payload`). What is done with a delivery lives in
`whatsapp_service`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.config import Settings
from backend.contacts.models import ChannelContact
from backend.enums import Language
from backend.gateway.rasa_client import BotMessage

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
BUSINESS_ACCOUNT = "whatsapp_business_account"
SERVICE_WINDOW = timedelta(hours=24)
# Meta's limits on interactive messages.
MAX_REPLY_BUTTONS = 3
MAX_LIST_ROWS = 10
BUTTON_TITLE_CHARS = 20
BUTTON_ID_CHARS = 256
ROW_TITLE_CHARS = 24
ROW_DESCRIPTION_CHARS = 72
ROW_ID_CHARS = 200
INTERACTIVE_BODY_CHARS = 1024
TEXT_BODY_CHARS = 4096
# Messages that need no answer: a reaction to a message, a notice that the number changed.
SILENT_TYPES = frozenset({"reaction", "system"})
REQUIRED_SETTINGS = (
    "whatsapp_phone_number_id",
    "whatsapp_access_token",
    "whatsapp_app_secret",
    "whatsapp_verify_token",
)


class MalformedPayload(Exception):
    """The body is signed but is not a webhook payload of the documented shape."""


class GraphError(Exception):
    """The Graph API refused a message, failed or could not be reached.

    `status` is the HTTP status (None when nothing was answered), `code` Meta's error code.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        maybe_delivered: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        # No answer, but the request had been sent: Meta may have accepted it.
        self.maybe_delivered = maybe_delivered


class TemplateUnavailable(Exception):
    """Outside the 24-hour window, and no approved template is configured for the language."""


def missing_settings(settings: Settings) -> list[str]:
    """The settings without which the channel must refuse to work."""
    return [name for name in REQUIRED_SETTINGS if not getattr(settings, name)]


def signature_is_valid(*, app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is "sha256=" + the HMAC-SHA256 of the raw body under the app secret."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256=").encode(), expected.encode())


# --- inbound payloads (Meta's documented shape; unknown fields are ignored) --------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Text(_Lenient):
    body: str


class _Reply(_Lenient):
    id: str
    title: str = ""


class _Interactive(_Lenient):
    type: str
    button_reply: _Reply | None = None
    list_reply: _Reply | None = None


# A quick-reply button of a template the business sent.
class _TemplateButton(_Lenient):
    text: str = ""
    payload: str | None = None


class _Message(_Lenient):
    id: str
    sender: str = Field(alias="from")
    type: str
    text: _Text | None = None
    interactive: _Interactive | None = None
    button: _TemplateButton | None = None


class _Status(_Lenient):
    id: str
    status: str
    timestamp: str | None = None
    recipient_id: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)


class _Metadata(_Lenient):
    phone_number_id: str


class _Value(_Lenient):
    metadata: _Metadata | None = None
    messages: list[_Message] = Field(default_factory=list)
    statuses: list[_Status] = Field(default_factory=list)


class _Change(_Lenient):
    field: str = "messages"
    value: _Value


class _Entry(_Lenient):
    changes: list[_Change] = Field(default_factory=list)


class _Webhook(_Lenient):
    object: str
    entry: list[_Entry] = Field(default_factory=list)


# One message a person sent; `text` is what the gateway forwards, None when it cannot be read.
@dataclass(frozen=True)
class InboundMessage:
    wamid: str
    wa_id: str
    phone_number_id: str
    type: str
    text: str | None


# Meta's report on a message the business sent.
@dataclass(frozen=True)
class StatusUpdate:
    wamid: str
    status: str
    recipient_id: str | None
    timestamp: str | None
    errors: list[dict[str, Any]]


@dataclass(frozen=True)
class Delivery:
    messages: list[InboundMessage]
    statuses: list[StatusUpdate]


def parse_webhook(body: bytes) -> Delivery:
    """The messages and statuses of one (already authenticated) webhook body."""
    try:
        webhook = _Webhook.model_validate_json(body)
    except ValidationError as exc:
        raise MalformedPayload(f"{exc.error_count()} problem(s) in the payload") from exc
    if webhook.object != BUSINESS_ACCOUNT:
        return Delivery([], [])
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    for entry in webhook.entry:
        for change in entry.changes:
            value = change.value
            number = value.metadata.phone_number_id if value.metadata else ""
            messages.extend(
                InboundMessage(m.id, m.sender, number, m.type, _readable_text(m))
                for m in value.messages
            )
            statuses.extend(
                StatusUpdate(s.id, s.status, s.recipient_id, s.timestamp, s.errors)
                for s in value.statuses
            )
    return Delivery(messages, statuses)


def _readable_text(message: _Message) -> str | None:
    # A pressed reply button or list row answers with its id: the payload the bot offered.
    if message.type == "text" and message.text is not None:
        return message.text.body
    if message.type == "interactive" and message.interactive is not None:
        reply = message.interactive.button_reply or message.interactive.list_reply
        return reply.id if reply is not None else None
    if message.type == "button" and message.button is not None:
        return message.button.text or message.button.payload
    return None


# --- outbound messages -----------------------------------------------------------------


def message_payload(*, to: str, message: BotMessage, choose_prompt: str, list_label: str) -> dict:
    """The Graph API body that shows one bot message: text, reply buttons or a list.

    `choose_prompt` is the body of buttons sent without text; `list_label` opens a list. An
    option whose payload is longer than Meta accepts as an id cannot be offered as a button:
    the message then lists the options as text, which the person can type.
    """
    body = message.text or choose_prompt
    buttons = message.buttons
    if not buttons:
        return envelope(to, "text", {"body": _clip(body, TEXT_BODY_CHARS), "preview_url": False})
    if len(buttons) <= MAX_REPLY_BUTTONS and all(
        len(b.payload) <= BUTTON_ID_CHARS for b in buttons
    ):
        action = {
            "buttons": [
                {
                    "type": "reply",
                    "reply": {"id": b.payload, "title": _clip(b.title, BUTTON_TITLE_CHARS)},
                }
                for b in buttons
            ]
        }
        return _interactive(to, "button", body, action)
    if len(buttons) > MAX_LIST_ROWS:
        log.warning(
            "a list shows %d options; dropped %d", MAX_LIST_ROWS, len(buttons) - MAX_LIST_ROWS
        )
        buttons = buttons[:MAX_LIST_ROWS]
    if all(len(b.payload) <= ROW_ID_CHARS for b in buttons):
        rows = []
        for b in buttons:
            row = {"id": b.payload, "title": _clip(b.title, ROW_TITLE_CHARS)}
            if len(b.title) > ROW_TITLE_CHARS:  # the whole title stays readable below
                row["description"] = _clip(b.title, ROW_DESCRIPTION_CHARS)
            rows.append(row)
        action = {"button": _clip(list_label, BUTTON_TITLE_CHARS), "sections": [{"rows": rows}]}
        return _interactive(to, "list", body, action)
    options = "\n".join(f"• {b.title}" for b in buttons)
    return envelope(to, "text", {"body": _clip(f"{body}\n\n{options}", TEXT_BODY_CHARS)})


def template_payload(
    *, to: str, name: str, language_code: str, parameters: list[str] | None = None
) -> dict:
    """The Graph API body of an approved template, with its body's {{1}}, {{2}}... filled."""
    template: dict[str, Any] = {"name": name, "language": {"code": language_code}}
    if parameters:
        template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
        ]
    return envelope(to, "template", template)


def _interactive(to: str, kind: str, body: str, action: dict) -> dict:
    interactive = {"type": kind, "body": {"text": _clip(body, INTERACTIVE_BODY_CHARS)}}
    return envelope(to, "interactive", {**interactive, "action": action})


def envelope(to: str, kind: str, content: dict) -> dict:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
        kind: content,
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def in_service_window(*, contact: ChannelContact, now: datetime) -> bool:
    """Whether the person wrote in the last 24 hours, so free-form messages are allowed."""
    last = contact.last_inbound_at
    return last is not None and now - last < SERVICE_WINDOW


def template_for(*, settings: Settings, language: Language | None) -> tuple[str, str]:
    """The approved template's name and Meta language code for a conversation language."""
    lang = (language or Language.EN).value
    name = settings.whatsapp_templates.get(lang)
    code = settings.whatsapp_template_languages.get(lang)
    if not name or not code:
        raise TemplateUnavailable(f"no WhatsApp template configured for {lang}")
    return name, code


class GraphClient:
    """Sends messages from one business number; use it as an async context manager."""

    def __init__(self, *, settings: Settings) -> None:
        timeout = settings.whatsapp_timeout_seconds
        base = settings.whatsapp_graph_base_url.rstrip("/")
        self._path = f"/{settings.whatsapp_graph_version}/{settings.whatsapp_phone_number_id}"
        self._http = httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {settings.whatsapp_access_token}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        )

    async def __aenter__(self) -> GraphClient:
        return self

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def send(self, payload: dict) -> str:
        """Send one message and return the wamid Meta gave it."""
        try:
            response = await self._http.post(f"{self._path}/messages", json=payload)
            response.raise_for_status()
            return str(response.json()["messages"][0]["id"])
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise GraphError(
                f"Graph API answered {status}", status=status, code=_error_code(exc.response)
            ) from exc
        except httpx.HTTPError as exc:
            # Connecting failed (or no connection was free): the request never left.
            never_sent = isinstance(exc, _NEVER_SENT)
            raise GraphError(
                f"Graph API unreachable: {type(exc).__name__}", maybe_delivered=not never_sent
            ) from exc
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise GraphError("the Graph API's answer has no message id") from exc


_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _error_code(response: httpx.Response) -> int | None:
    # Meta's errors read {"error": {"code": 131026, "message": ...}}.
    try:
        return int(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None
