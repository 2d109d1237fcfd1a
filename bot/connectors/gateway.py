"""The channel gateway's connector: Rasa's REST channel, plus the metadata the gateway sends.

The gateway (backend service) posts `{"sender", "message", "metadata"}` to
`/webhooks/gateway/webhook` and receives the bot's messages in the response. The metadata
carries the channel, the detected language and what the gateway knows of the sender; the
actions read it from `tracker.latest_message["metadata"]`.
"""

from typing import Any

from rasa.core.channels.rest import RestInput
from sanic.request import Request


class GatewayInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "gateway"

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        body = request.json or {}
        metadata = body.get("metadata")
        return metadata if isinstance(metadata, dict) else None
