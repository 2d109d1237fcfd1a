"""Financial education: general questions answered from the knowledge base's guides.

An answer quotes one passage of a guide and names the guide (and its section). When the guide
goes on, a "Tell me more" button carries the next passage's id; pressing it, or typing "tell me
more" (the id is then the `education_next_passage` slot), quotes that passage, and so on to
the guide's end.
"""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk.events import SlotSet

from actions.backend_client import BackendError, BackendUnavailable
from actions.backend_types import Passage
from actions.base import CollectionsAction, menu
from actions.speaker import Speaker

NEXT_PASSAGE_SLOT = "education_next_passage"
# Shorter messages ("ok", "hm?") are never a question a guide could answer.
MIN_QUESTION_CHARS = 12
PASSAGE_ENTITY = "knowledge_passage"
# Passage ids are "<language>/<topic>#<n>"; anything much longer did not come from our button.
MAX_PASSAGE_ID_CHARS = 200


def more_button(speaker: Speaker, passage_id: str) -> dict[str, str]:
    """The button that asks for the passage `passage_id` (the one after what was just quoted)."""
    entities = json.dumps({PASSAGE_ENTITY: passage_id}, ensure_ascii=False, separators=(",", ":"))
    return speaker.button("Tell me more", f"/education_more{entities}")


def quote_passage(speaker: Speaker, passage: Passage, *, more_from: str | None) -> None:
    """Quote `passage` with its guide (and section) named, then the menu.

    `more_from` is the passage "Tell me more" asks for; None offers no such button.
    """
    buttons = [more_button(speaker, more_from)] if more_from else []
    buttons += menu(speaker)
    heading = (passage.get("heading") or "").strip()
    if heading:
        speaker.say(
            "From our guide “{title}”, section “{heading}”: {excerpt}",
            title=passage["title"],
            heading=heading,
            excerpt=passage["excerpt"],
            buttons=buttons,
        )
    else:
        speaker.say(
            "From our guide “{title}”: {excerpt}",
            title=passage["title"],
            excerpt=passage["excerpt"],
            buttons=buttons,
        )


class Education(CollectionsAction):
    """General questions, answered from the knowledge base with the guide as the source."""

    action_name = "action_education"

    async def act(self, speaker, backend, tracker, domain):
        question = (tracker.latest_message or {}).get("text") or ""
        answer = await backend.knowledge(question, speaker.language)
        if not answer["passages"]:
            speaker.say(
                "I don't know the answer to that yet. I can tell you about budgeting, emergency "
                "funds, interest, late fees, credit records, which debts to pay first, payment "
                "plans, scams, your rights, free debt advice and rebuilding credit.",
                buttons=menu(speaker),
            )
            return [SlotSet(NEXT_PASSAGE_SLOT, None)]
        return quote_answer(speaker, answer)


async def answer_from_guides(speaker: Speaker, backend, question: str) -> list | None:
    """A guide's answer to a message the bot did not otherwise understand, or None.

    Only a guide that passes the search's "I don't know" gate is quoted; otherwise, or when
    the search fails, nothing is said and the caller answers as it would have.
    """
    if len(question.strip()) < MIN_QUESTION_CHARS:
        return None
    try:
        answer = await backend.knowledge(question, speaker.language)
    except (BackendUnavailable, BackendError):
        return None  # the caller's own answer still stands
    if not answer["passages"]:
        return None
    return quote_answer(speaker, answer)


def quote_answer(speaker: Speaker, answer: dict) -> list:
    """Say the best guide's answer (generated, or its passage quoted); the slot events."""
    if answer["fell_back"]:
        speaker.say(
            "I don't have a guide on this in your language yet, so here is our English one."
        )
    best = answer["passages"][0]
    if answer.get("generated"):  # already cites its guides, in the conversation language
        # More, here, is the best guide's own words, from the passage the answer drew on.
        more_from = best.get("id")
        buttons = [more_button(speaker, more_from)] if more_from else []
        speaker.dispatcher.utter_message(text=answer["generated"], buttons=buttons + menu(speaker))
        return [SlotSet(NEXT_PASSAGE_SLOT, more_from)]
    next_id = best.get("next_id")
    quote_passage(speaker, best, more_from=next_id)
    return [SlotSet(NEXT_PASSAGE_SLOT, next_id)]


class EducationMore(CollectionsAction):
    """Tell me more: the next passage of the guide last quoted, or the one its button names."""

    action_name = "action_education_more"

    async def act(self, speaker, backend, tracker, domain):
        passage_id = requested_passage(tracker)
        passage = await backend.knowledge_passage(passage_id) if passage_id else None
        if passage is None:
            speaker.say(
                "That's all I have on that for now. You can ask me another question about "
                "money, such as budgeting, interest or your rights, or choose an option below.",
                buttons=menu(speaker),
            )
            return [SlotSet(NEXT_PASSAGE_SLOT, None)]
        # Shown even when the passage is in another language than the conversation's (an
        # English guide given as a fallback): it is the guide the person asked to go on with.
        next_id = passage.get("next_id")
        quote_passage(speaker, passage, more_from=next_id)
        return [SlotSet(NEXT_PASSAGE_SLOT, next_id)]


def requested_passage(tracker: Any) -> str | None:
    """The passage the button named, else the one after the last quoted; None if neither."""
    for value in (
        next(tracker.get_latest_entity_values(PASSAGE_ENTITY), None),
        tracker.get_slot(NEXT_PASSAGE_SLOT),
    ):
        if isinstance(value, str) and 0 < len(value.strip()) <= MAX_PASSAGE_ID_CHARS:
            return value.strip()
    return None
