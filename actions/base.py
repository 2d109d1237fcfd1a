"""The base of every action: language, speaker, backend client and backend-failure handling."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import BackendClient, BackendUnavailable, NotVerified
from actions.speaker import Speaker, language_of
from locales import N_

log = logging.getLogger(__name__)

APOLOGY = N_(
    "Sorry, something went wrong on our side and I can't check that right now. "
    "Your message was kept. Would you like to talk to a member of our team?"
)


def human_buttons(speaker: Speaker) -> list[dict[str, str]]:
    return [speaker.button("Talk to a person", "/request_human")]


def menu(speaker: Speaker) -> list[dict[str, str]]:
    return [
        speaker.button("My balance", "/ask_balance"),
        speaker.button("Payment plan", "/request_payment_plan"),
        *human_buttons(speaker),
    ]


class CollectionsAction(Action, ABC):
    """Runs `act` with the conversation's speaker and backend.

    A backend failure becomes a localized apology with the offer of a human, never silence
    or a stack trace.
    """

    action_name = ""

    def name(self) -> str:
        return self.action_name

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        language = language_of(tracker)
        speaker = Speaker(dispatcher, language)
        backend = BackendClient.for_tracker(tracker)
        events: list[dict[str, Any]] = []
        if tracker.get_slot("language") != language:
            events.append(SlotSet("language", language))
        try:
            events += await self.act(speaker, backend, tracker, domain)
        except BackendUnavailable:
            log.warning("%s: backend unavailable", self.name())
            speaker.say(APOLOGY, buttons=human_buttons(speaker))
        except NotVerified:
            speaker.say("For your security, I need to confirm your identity again.")
            events.append(SlotSet("verified", False))
        except Exception:  # an apology beats silence; the trace goes to the log
            log.exception("%s failed", self.name())
            speaker.say(APOLOGY, buttons=human_buttons(speaker))
        return events

    @abstractmethod
    async def act(
        self, speaker: Speaker, backend: BackendClient, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The action's work; returns the events to apply."""


class Question(CollectionsAction, ABC):
    """A form's `action_ask_<slot>` that asks one catalog question.

    Subclasses name the action and the question; `params` fills its placeholders.
    """

    @property
    @abstractmethod
    def question(self) -> str:
        """The catalog id of the question (a class attribute in subclasses)."""

    def params(self, speaker: Speaker, tracker: Tracker) -> dict[str, Any]:
        return {}

    async def act(
        self, speaker: Speaker, backend: BackendClient, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        speaker.say(self.question, **self.params(speaker, tracker))
        return []
