"""The Rasa server as the gateway sees it: send one message, get the bot's messages back.

Rasa is reached through the custom REST connector in `bot/connectors/gateway.py`. Every way
the call can fail (refused, timed out, an error status, an answer of the wrong shape) becomes
one `AssistantUnavailable`, so the gateway has a single case to handle.

Several Rasa instances can serve one bot when they share a tracker store and a lock store
(Redis): `base_url` may list them, comma separated. A conversation always goes to the same
instance while it is up (chosen by a hash of the sender), so its turns are served in order by
one process; when that instance refuses the connection, the next one in the list takes the
message and continues from the shared tracker store. Only a connection that was never made
moves on: a request Rasa may have received (a read timeout) is not sent again.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from backend.config import Settings
from backend.contacts.signing import sign_contact
from backend.observability.context import METADATA_KEY, REQUEST_ID_HEADER, current_request_id

WEBHOOK_PATH = "/webhooks/gateway/webhook"


class AssistantUnavailable(Exception):
    """Rasa could not be reached or gave no usable answer."""


# A quick reply the bot offers: the title is shown, the payload is sent back when chosen.
class Button(BaseModel):
    title: str
    payload: str


# One message from the bot, reduced to what every channel can show.
class BotMessage(BaseModel):
    text: str | None = None
    buttons: list[Button] = Field(default_factory=list)


# One element of Rasa REST's answer; images and custom payloads are not shown by any channel yet.
class _RasaReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str | None = None
    buttons: list[Button] = Field(default_factory=list)


_replies = TypeAdapter(list[_RasaReply])


class RasaClient:
    """An async client of one Rasa server; use it as an async context manager."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout_seconds: float,
        contact_signer: Callable[[str, str], str] | None = None,
    ) -> None:
        """`base_url`: one URL or several, comma separated (instances of one bot).

        `contact_signer(channel, external_id)` signs each turn's contact into its metadata.
        """
        self.base_urls = [url.strip().rstrip("/") for url in base_url.split(",") if url.strip()]
        if not self.base_urls:
            raise ValueError("no Rasa URL given")
        # Keep-alive connections, as many as conversations can wait on Rasa at once.
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            # Idle connections expire before Rasa's server closes them (Sanic keeps them 5 s), so
            # a turn never goes out on a connection Rasa is closing at that moment.
            limits=httpx.Limits(
                max_connections=200, max_keepalive_connections=50, keepalive_expiry=4.0
            ),
        )
        self._sign = contact_signer

    @classmethod
    def from_settings(cls, settings: Settings) -> RasaClient:
        """The configured Rasa server, with each turn's contact signed for the action server."""

        def sign(channel: str, external_id: str) -> str:
            return sign_contact(
                channel=channel,
                external_id=external_id,
                secret=settings.contact_signing_secret,
                now=datetime.now(timezone.utc),
                ttl=timedelta(seconds=settings.contact_signature_ttl_seconds),
            )

        return cls(
            base_url=settings.rasa_url,
            timeout_seconds=settings.rasa_timeout_seconds,
            contact_signer=sign,
        )

    async def __aenter__(self) -> RasaClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self, *, sender_id: str, text: str, metadata: dict[str, Any]
    ) -> list[BotMessage]:
        """Deliver one message from `sender_id` and return what the bot answers."""
        if self._sign is not None:
            channel, _, external_id = sender_id.partition(":")
            metadata = {**metadata, "contact_signature": self._sign(channel, external_id)}
        headers = {}
        request_id = current_request_id()
        if request_id is not None:
            metadata = {**metadata, METADATA_KEY: request_id}
            headers[REQUEST_ID_HEADER] = request_id
        body = {"sender": sender_id, "message": text, "metadata": metadata}
        try:
            response = await self._post(sender_id, body, headers)
            response.raise_for_status()
            replies = _replies.validate_json(response.content)
        except httpx.HTTPStatusError as exc:
            raise AssistantUnavailable(f"Rasa answered {exc.response.status_code}") from exc
        except httpx.HTTPError as exc:
            raise AssistantUnavailable(f"Rasa unreachable: {type(exc).__name__}") from exc
        except ValidationError as exc:
            raise AssistantUnavailable("Rasa's answer is not a list of messages") from exc
        return [
            BotMessage(text=reply.text, buttons=reply.buttons)
            for reply in replies
            if reply.text or reply.buttons
        ]

    def instances_for(self, sender_id: str) -> list[str]:
        """The instances to try for this sender: its own first, then the others in turn."""
        first = zlib.crc32(sender_id.encode()) % len(self.base_urls)
        return self.base_urls[first:] + self.base_urls[:first]

    async def _post(
        self, sender_id: str, body: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        *others, last = self.instances_for(sender_id)
        for base_url in others:
            try:
                return await self._http.post(base_url + WEBHOOK_PATH, json=body, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                continue  # never reached that instance: the next one takes the turn
        return await self._http.post(last + WEBHOOK_PATH, json=body, headers=headers)
