"""Small talk and conversation housekeeping.

Greetings, thanks, "are you a bot?", language, opt-out, a person, the fallback and the
satisfaction score.
"""

from __future__ import annotations

import contextlib
import re

from rasa_sdk.events import SlotSet, UserUtteranceReverted

from actions.backend_client import BackendError, BackendUnavailable
from actions.base import CollectionsAction, human_buttons, menu
from actions.config import get_action_settings
from actions.education import answer_from_guides
from actions.speaker import Speaker, language_from_name


class Greet(CollectionsAction):
    action_name = "action_greet"

    async def act(self, speaker, backend, tracker, domain):
        name = tracker.get_slot("debtor_name")
        events = []
        if tracker.get_slot("verified") and name:
            # By name only while the backend says this contact is verified now: after the
            # idle timeout or "end conversation", the next person on the device is a stranger.
            if await verified_now(backend):
                speaker.say(
                    "Hello again, {name}! How can I help?", name=name, buttons=menu(speaker)
                )
                return []
            events = [SlotSet("verified", False), SlotSet("debtor_name", None)]
        speaker.say(
            "Hello! I'm the virtual assistant of {creditor}. I can help with "
            "balances, due dates and payment plans, and share tips on managing "
            "money. How can I help?",
            creditor=get_action_settings().creditor_name,
            buttons=menu(speaker),
        )
        return events


async def verified_now(backend) -> bool:
    try:
        return bool((await backend.contact()).get("verified"))
    except (BackendUnavailable, BackendError):
        return False


class Goodbye(CollectionsAction):
    action_name = "action_goodbye"

    async def act(self, speaker, backend, tracker, domain):
        speaker.say("Thank you for talking with me. Take care!")
        return []


class Thank(CollectionsAction):
    action_name = "action_thank"

    async def act(self, speaker, backend, tracker, domain):
        speaker.say("You're welcome! Is there anything else I can help with?")
        return []


class BotChallenge(CollectionsAction):
    action_name = "action_bot_challenge"

    async def act(self, speaker, backend, tracker, domain):
        speaker.say(
            "I'm an automated virtual assistant of {creditor}, not a person. You can "
            "ask to talk to a person at any time.",
            creditor=get_action_settings().creditor_name,
            buttons=human_buttons(speaker),
        )
        return []


class OutOfScope(CollectionsAction):
    action_name = "action_out_of_scope"

    async def act(self, speaker, backend, tracker, domain):
        answered = await answer_from_guides(speaker, backend, latest_text(tracker))
        if answered is not None:  # a question one of our guides answers, in other words
            return answered
        speaker.say(
            "Sorry, I can't help with that. I can help with your balance, due dates "
            "and payment plans, or put you in touch with a person.",
            buttons=menu(speaker),
        )
        return []


class Fallback(CollectionsAction):
    """Two stages: ask to rephrase; if the next message is not understood either, a person."""

    action_name = "action_fallback"

    async def act(self, speaker, backend, tracker, domain):
        # The message is taken back, as Rasa's own fallback does, so that the conversation
        # waits for the next one instead of predicting this action again. Only two fallbacks
        # in a row hand over: an understood message in between starts counting again.
        answered = await answer_from_guides(speaker, backend, latest_text(tracker))
        if answered is not None:  # a money question worded unlike any the bot was taught
            return [*answered, SlotSet("fallback_count", 0.0)]
        consecutive = previous_action(tracker.events) in (None, self.action_name)
        if not (consecutive and tracker.get_slot("fallback_count")):
            speaker.say("Sorry, I didn't understand. Could you say it another way?")
            return [UserUtteranceReverted(), SlotSet("fallback_count", 1.0)]
        await backend.escalate("not_understood")
        speaker.say(
            "I'm sorry I couldn't understand. I've asked a member of our team to help "
            "you here as soon as possible."
        )
        return [UserUtteranceReverted(), SlotSet("fallback_count", 0.0)]


def latest_text(tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def previous_action(events: list[dict]) -> str | None:
    """The bot's last action before the person's latest message (None without history)."""
    seen_user = False
    for event in reversed(events):
        if event.get("event") == "user":
            if seen_user:
                continue
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name")
    return None


def asked_beyond_policy(tracker) -> bool:
    """A person asked for just after a plan request the policy did not grant as asked.

    Counter-offers are on the table (the plan form holds them), or the bot's previous turn
    quoted a plan request and ended without a plan (a refusal offers a person).
    """
    if tracker.get_slot("plan_options") and not tracker.get_slot("plan_confirmed"):
        return True
    return any(
        event.get("event") == "slot" and event.get("name") == "plan_ask" and event.get("value")
        for event in previous_turn(tracker.events)
    )


def previous_turn(events: list[dict]) -> list[dict]:
    """The events between the person's message before the latest one and the latest one."""
    users = [index for index, event in enumerate(events) if event.get("event") == "user"]
    if len(users) < 2:
        return []
    return events[users[-2] + 1 : users[-1]]


class ChangeLanguage(CollectionsAction):
    action_name = "action_change_language"

    async def act(self, speaker, backend, tracker, domain):
        names = [
            e.get("value")
            for e in tracker.latest_message.get("entities", [])
            if e["entity"] == "language"
        ]
        chosen = next((code for code in map(language_from_name, names) if code), None)
        if chosen is None:
            speaker.say(
                "Which language would you like?",
                buttons=[
                    {"title": "Português", "payload": '/change_language{"language":"português"}'},
                    {"title": "Español", "payload": '/change_language{"language":"español"}'},
                    {"title": "Italiano", "payload": '/change_language{"language":"italiano"}'},
                    {"title": "English", "payload": '/change_language{"language":"english"}'},
                ],
            )
            return []
        # The conversation switches even if the backend cannot save the preference now.
        with contextlib.suppress(BackendUnavailable):
            await backend.set_language(chosen)
        Speaker(speaker.dispatcher, chosen).say("Sure! From now on I'll write in English.")
        return [SlotSet("language", chosen), SlotSet("language_chosen", True)]


class OptOut(CollectionsAction):
    action_name = "action_opt_out"

    async def act(self, speaker, backend, tracker, domain):
        await backend.opt_out()
        speaker.say(
            "Done: you won't receive any more messages from us on this channel. If you "
            "change your mind, just write to us again."
        )
        return []


class RequestHuman(CollectionsAction):
    action_name = "action_request_human"

    async def act(self, speaker, backend, tracker, domain):
        reason = "plan_beyond_policy" if asked_beyond_policy(tracker) else "request_human"
        await backend.escalate(reason)
        speaker.say(
            "I've asked a member of our team to take over. They'll reply here as soon "
            "as possible, during business hours."
        )
        return []


class AskCsat(CollectionsAction):
    action_name = "action_ask_csat"

    async def act(self, speaker, backend, tracker, domain):
        speaker.say(
            "Before you go: how would you rate this conversation, from 1 (bad) to 5 (great)?",
            buttons=[
                {"title": str(score), "payload": f'/inform{{"csat_score":"{score}"}}'}
                for score in range(1, 6)
            ],
        )
        return [SlotSet("csat_asked", True)]


class RecordCsat(CollectionsAction):
    action_name = "action_record_csat"

    async def act(self, speaker, backend, tracker, domain):
        raw = tracker.get_slot("csat_score") or tracker.latest_message.get("text") or ""
        found = re.search(r"[1-5]", str(raw))
        done = [
            SlotSet("csat_asked", False),
            SlotSet("resolved", False),
            SlotSet("csat_score", None),
        ]
        if not found:  # not a score after all: thank them and don't insist
            speaker.say("Thank you for talking with me. Take care!")
            return done
        await backend.csat(int(found.group()))
        speaker.say("Thank you for your feedback! Take care.")
        return done
