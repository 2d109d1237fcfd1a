"""Questions asked in the middle of a form: answered, then the form asks its question again.

The forms' text slots ignore these intents (bot/domain.yml), so a question is never stored as
an answer; the rules in bot/data/rules/interruptions.yml run `action_answer_in_form` and then
the form again, which repeats the question it was waiting on.
"""

from __future__ import annotations

import re
from datetime import date

from rasa_sdk.events import SlotSet

from actions.base import CollectionsAction
from actions.debts import answer
from actions.education import Education
from actions.identity import RememberRequest, document_suffix_in
from actions.parsing import looks_like_amount, looks_like_date
from actions.small_talk import BotChallenge, OutOfScope
from actions.worries import WORRIES, answer_worry

# What each form slot's answer looks like; a message that looks like one is the answer,
# whatever the classifier thought ("14/03/1988" read as a due-date question).
DATE_SLOTS = ("birth_date", "promise_date", "paid_on")


def looks_like_answer(slot: str | None, text: str) -> bool:
    if slot == "one_time_code":
        return re.fullmatch(r"\s*\d{3}\s?\d{3}\s*", text) is not None
    if slot == "document_suffix":
        return document_suffix_in(text) is not None
    if slot in DATE_SLOTS:
        return looks_like_date(text, today=date.today()) is not None
    if slot == "promise_amount":
        return looks_like_amount(text) is not None
    return False


class AnswerInForm(CollectionsAction):
    action_name = "action_answer_in_form"

    async def act(self, speaker, backend, tracker, domain):
        requested = tracker.get_slot("requested_slot")
        text = (tracker.latest_message or {}).get("text") or ""
        if looks_like_answer(requested, text):
            return [SlotSet(requested, text)]
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent in WORRIES:
            await answer_worry(speaker, backend, tracker)
        elif intent == "bot_challenge":
            await BotChallenge().act(speaker, backend, tracker, domain)
        elif intent == "ask_education":  # its events remember the passage for "tell me more"
            return await Education().act(speaker, backend, tracker, domain)
        elif intent in RememberRequest.PENDING:
            request = RememberRequest.PENDING[intent]
            if tracker.get_slot("verified"):
                return await answer(request, speaker, backend, tracker)
            speaker.say("I'll answer that as soon as I've confirmed who you are.")
            return [SlotSet("pending_request", request)]
        else:  # it may still be a question a guide answers: then "tell me more" follows it
            return await OutOfScope().act(speaker, backend, tracker, domain)
        return []
