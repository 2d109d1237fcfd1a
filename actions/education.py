"""Financial education: general questions answered from the knowledge base's guides."""

from __future__ import annotations

from actions.base import CollectionsAction
from actions.small_talk import menu


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
            return []
        if answer["fell_back"]:
            speaker.say(
                "I don't have a guide on this in your language yet, so here is our English one."
            )
        if answer.get("generated"):  # already cites its guides, in the conversation language
            speaker.dispatcher.utter_message(text=answer["generated"], buttons=menu(speaker))
            return []
        best = answer["passages"][0]
        speaker.say(
            "From our guide “{title}”: {excerpt}",
            title=best["title"],
            excerpt=best["excerpt"],
            buttons=menu(speaker),
        )
        return []
