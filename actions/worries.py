"""Calm, honest answers to what anxious debtors ask first.

Court, credit records, whether the contact is legal, whether this is a scam: general
information only (nothing about the person's debt), so they are given before verification
too, each with the offer of a person and, where one of our guides covers the topic, its best
passage.
"""

from __future__ import annotations

import contextlib

from actions.backend_client import BackendError, BackendUnavailable
from actions.base import CollectionsAction, human_buttons
from actions.config import get_action_settings
from locales import N_

WORRIES = {
    "ask_legal_action": N_(
        "I understand this is worrying. Nothing you tell me here starts any legal action, and "
        "my job is to help you find a way to pay that you can manage. Taking a debt to court "
        "is a formal process that the creditor decides and that you would be notified of "
        "first; a payment plan or a date you can keep is the best way to settle things."
    ),
    "ask_credit_record": N_(
        "Creditors may report overdue debts to credit bureaus only as the law allows, and "
        "usually must tell you before they do. Once a debt is paid, the record has to be "
        "updated. If you'd like, I can show you payment options that fit your budget."
    ),
    "ask_contact_legality": N_(
        "Yes, {creditor} may contact you about an account in your name, within the rules: at "
        "reasonable hours, without pressure, and never telling anyone else about it. If you "
        "don't want messages on this channel, write STOP at any time and they stop."
    ),
    "ask_is_scam": N_(
        "It's right to be careful. I will never ask for your full document number, passwords "
        "or card details, and payments only go to {creditor} through its official payment "
        "link. If in doubt, call {creditor} on the number printed on your contract or its "
        "website and ask about this conversation."
    ),
}


async def answer_worry(speaker, backend, tracker) -> None:
    """Say the calm answer for the message's worry, then our guide's best passage if any."""
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    creditor = get_action_settings().creditor_name
    speaker.say(WORRIES.get(intent, WORRIES["ask_is_scam"]), creditor=creditor)
    question = (tracker.latest_message or {}).get("text") or ""
    answer = None
    with contextlib.suppress(BackendUnavailable, BackendError):
        answer = await backend.knowledge(question, speaker.language)
    if answer and answer["passages"] and not answer["fell_back"]:
        best = answer["passages"][0]
        speaker.say(
            "From our guide “{title}”: {excerpt}",
            title=best["title"],
            excerpt=best["excerpt"],
            buttons=human_buttons(speaker),
        )
    else:
        speaker.say("Would you like to talk to a person?", buttons=human_buttons(speaker))


class AnswerWorry(CollectionsAction):
    action_name = "action_answer_worry"

    async def act(self, speaker, backend, tracker, domain):
        await answer_worry(speaker, backend, tracker)
        return []
