"""Identity verification before any debt detail: document suffix plus birth date."""

from __future__ import annotations

import logging
from abc import abstractmethod
from datetime import date
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend_client import (
    BackendClient,
    BackendUnavailable,
    Refused,
    VerificationLocked,
)
from actions.base import APOLOGY, CollectionsAction, human_buttons
from actions.conversation import Speaker, language_of
from actions.debt_view import introduce_debt, negotiable_debt
from actions.parsing import parse_date

log = logging.getLogger(__name__)
VERIFICATION_SLOTS = ("document_suffix", "birth_date")


def birth_date_example(language: str) -> str:
    """People in the United States write the month first."""
    return "03/14/1988" if language == "en" else "14/03/1988"


class AskDocumentSuffix(CollectionsAction):
    action_name = "action_ask_document_suffix"

    async def act(self, speaker, backend, tracker, domain):
        speaker.say(
            "Before we talk about any account, I need to confirm who you are. "
            "Please type the last 4 characters of your document number (CPF, DNI, codice "
            "fiscale or SSN)."
        )
        return []


class AskBirthDate(CollectionsAction):
    action_name = "action_ask_birth_date"

    async def act(self, speaker, backend, tracker, domain):
        speaker.say(
            "Thank you. Now, what is your date of birth? For example: {example}",
            example=birth_date_example(speaker.language),
        )
        return []


class VerifyingFormValidation(FormValidationAction):
    """Validation shared by every form that starts with the verification questions."""

    @abstractmethod
    def name(self) -> str:
        """validate_<form name>."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        try:
            return await super().run(dispatcher, tracker, domain)
        except Exception:  # an apology beats silence; the trace goes to the log
            log.exception("%s failed", self.name())
            speaker = Speaker(dispatcher, language_of(tracker))
            speaker.say(APOLOGY, buttons=human_buttons(speaker))
            return []

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot("verified") or tracker.get_slot("locked"):
            return [slot for slot in domain_slots if slot not in VERIFICATION_SLOTS]
        return domain_slots

    async def validate_document_suffix(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        speaker = Speaker(dispatcher, language_of(tracker))
        suffix = "".join(ch for ch in str(value or "") if ch.isalnum())[-8:]
        if len(suffix) < 4:
            speaker.say("I need exactly the last 4 characters of your document, like 1234.")
            return {"document_suffix": None}
        return {"document_suffix": suffix[-4:].upper()}

    async def validate_birth_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        language = language_of(tracker)
        speaker = Speaker(dispatcher, language)
        born = parse_date(str(value or ""), today=date.today(), month_first=language == "en")
        if born is None or born >= date.today() or born.year < 1900:
            speaker.say(
                "I couldn't read that date. Please write it like {example}.",
                example=birth_date_example(language),
            )
            return {"birth_date": None}
        return await verify(
            speaker, BackendClient(tracker.sender_id), tracker.get_slot("document_suffix"), born
        )


async def verify(speaker: Speaker, backend: BackendClient, suffix: str, born: date) -> dict:
    """Ask the backend; on success introduce the creditor and the debt, as the rules require."""
    try:
        summary = await backend.verify(suffix, born.isoformat())
    except VerificationLocked:
        speaker.say(
            "For your security, verification is locked after too many attempts. A member of "
            "our team can help you confirm your identity.",
            buttons=human_buttons(speaker),
        )
        return {"birth_date": born.isoformat(), "locked": True, "verified": False}
    except Refused as refusal:
        attempts = refusal.detail.get("attempts_left")
        if refusal.reason_code == "verification_ambiguous":
            speaker.say(
                "I couldn't confirm your identity automatically. A member of our team "
                "will help you.",
                buttons=human_buttons(speaker),
            )
            return {"birth_date": born.isoformat(), "locked": True, "verified": False}
        speaker.say_plural(
            "Those details don't match our records. You have {count} attempt left. "
            "Let's try again.",
            "Those details don't match our records. You have {count} attempts left. "
            "Let's try again.",
            attempts if attempts is not None else 1,
        )
        return {"document_suffix": None, "birth_date": None}
    except BackendUnavailable:
        speaker.say(APOLOGY, buttons=human_buttons(speaker))
        return {"birth_date": born.isoformat(), "locked": True, "verified": False}
    debt = negotiable_debt(summary)
    introduce_debt(speaker, summary, debt)
    return {
        "birth_date": born.isoformat(),
        "verified": True,
        "debtor_name": summary["first_name"],
        "debt_reference": debt["reference"] if debt else None,
    }


class ValidateVerificationForm(VerifyingFormValidation):
    def name(self) -> str:
        return "validate_verification_form"


class RememberRequest(CollectionsAction):
    """Before verifying, remember what the person asked so it can be answered afterwards."""

    action_name = "action_remember_request"
    PENDING = {
        "ask_balance": "balance",
        "ask_due_date": "due_date",
        "ask_terms": "terms",
        "request_payment_link": "payment_link",
        "dispute_debt": "dispute",
    }

    async def act(self, speaker, backend, tracker, domain):
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        return [SlotSet("pending_request", self.PENDING.get(intent, "balance"))]
