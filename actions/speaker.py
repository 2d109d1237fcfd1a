"""How an action speaks: the conversation's language, and `Speaker`, which says catalog texts."""

from __future__ import annotations

import unicodedata
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from locales import LANGUAGES, normalize_language, translate, translate_plural

LANGUAGE_NAMES = {
    "pt_BR": ("portugues", "portuguese", "portoghese", "pt", "brasileiro"),
    "es": ("espanhol", "espanol", "spanish", "spagnolo", "castellano", "es"),
    "it": ("italiano", "italian", "it"),
    "en": ("ingles", "english", "inglese", "en"),
}


def language_of(tracker: Tracker) -> str:
    """The language to answer in.

    A language the person explicitly chose wins; otherwise the language the gateway
    resolved for this message (detected, or the remembered preference); otherwise the slot.
    """
    slot = tracker.get_slot("language")
    if tracker.get_slot("language_chosen") and slot in LANGUAGES:
        return slot
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    resolved = metadata.get("language")
    if resolved in LANGUAGES:
        return resolved
    return normalize_language(slot)


def language_from_name(name: str | None) -> str | None:
    """Map a language name ("português", "Spanish", "inglés") to pt_BR, es, en...; or None."""
    if not name:
        return None
    folded = "".join(
        ch for ch in unicodedata.normalize("NFKD", name.lower()) if not unicodedata.combining(ch)
    ).strip()
    for code, names in LANGUAGE_NAMES.items():
        if any(folded.startswith(candidate) for candidate in names if len(candidate) > 2):
            return code
        if folded in names:
            return code
    return None


class Speaker:
    """Says catalog messages in the conversation's language."""

    def __init__(self, dispatcher: CollectingDispatcher, language: str) -> None:
        self.dispatcher = dispatcher
        self.language = language

    def say(
        self, message_id: str, *, buttons: list[dict[str, Any]] | None = None, **params: Any
    ) -> None:
        self.dispatcher.utter_message(
            text=translate(self.language, message_id, **params), buttons=buttons or []
        )

    def say_plural(self, singular: str, plural: str, count: int, **params: Any) -> None:
        self.dispatcher.utter_message(
            text=translate_plural(self.language, singular, plural, count, **params)
        )

    def phrase(self, message_id: str, **params: Any) -> str:
        return translate(self.language, message_id, **params)

    def button(self, message_id: str, payload: str, **params: Any) -> dict[str, str]:
        return {"title": self.phrase(message_id, **params), "payload": payload}
