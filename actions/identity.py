"""Identity verification before any debt detail: document suffix plus birth date."""

from __future__ import annotations

import contextlib
import logging
import re
from abc import abstractmethod
from datetime import date
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend_client import (
    BackendClient,
    BackendError,
    BackendUnavailable,
    Refused,
    VerificationLocked,
)
from actions.backend_types import Debt
from actions.base import APOLOGY, CollectionsAction, Question, human_buttons
from actions.debt_view import introduce_debt, list_debts, negotiable_debt, only_debt, open_debts
from actions.parsing import choose_listed_option, fold, looks_like_document_suffix, parse_date
from actions.speaker import Speaker, language_of
from locales import N_

log = logging.getLogger(__name__)
VERIFICATION_SLOTS = ("document_suffix", "birth_date")


_WHOLE_DOCUMENT = re.compile(r"[A-Za-z0-9]{5,16}")


def document_suffix_in(text: str) -> str | None:
    """The last 4 document characters in an answer, or None when the text is not one.

    "8909", "termina em 8909" and a whole document typed out ("123.456.789-09") answer; a
    question or any other sentence does not, whatever letters and digits it holds.
    """
    found = looks_like_document_suffix(text, length_min=4, length_max=4)
    if found:
        return found.upper()
    compact = re.sub(r"[\s.\-/]", "", text.strip())
    if _WHOLE_DOCUMENT.fullmatch(compact) and sum(ch.isdigit() for ch in compact) >= 4:
        return compact[-4:].upper()
    return None


def debt_in_answer(text: str, debts: list[Debt]) -> Debt | None:
    """The debt a person picked from the listed ones: by reference, number or product name."""
    folded = fold(text)
    for debt in debts:
        if fold(debt["reference"]) in folded:
            return debt
    number = choose_listed_option(text, len(debts))
    if number is not None:
        return debts[number - 1]
    named = [d for d in debts if fold(d["product"]) in folded or folded in fold(d["product"])]
    return named[0] if len(named) == 1 and len(folded) >= 4 else None


def birth_date_example(language: str) -> str:
    """People in the United States write the month first."""
    return "03/14/1988" if language == "en" else "14/03/1988"


class AskDocumentSuffix(Question):
    action_name = "action_ask_document_suffix"
    question = N_(
        "Before we talk about any account, I need to confirm who you are. "
        "Please type the last 4 characters of your document number (CPF, DNI, codice "
        "fiscale or SSN)."
    )


class AskBirthDate(Question):
    action_name = "action_ask_birth_date"
    question = N_("Thank you. Now, what is your date of birth? For example: {example}")

    def params(self, speaker, tracker):
        return {"example": birth_date_example(speaker.language)}


LOCKED = N_(
    "For your security, verification is locked after too many attempts. A member of "
    "our team can help you confirm your identity."
)

# What a validation returns to end its form early (nothing more can be done in it now): the
# form stops and its closing rule runs, which finds the form's outcome missing and says nothing.
END_FORM = {"requested_slot": None}


def _ends_form(events: list[dict[str, Any]]) -> bool:
    return any(
        event.get("event") == "slot"
        and event.get("name") == "requested_slot"
        and event.get("value") is None
        for event in events
    )


class VerifyingFormValidation(FormValidationAction):
    """Validation shared by every form that starts with the verification questions."""

    @abstractmethod
    def name(self) -> str:
        """validate_<form name>."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        try:
            events = await super().run(dispatcher, tracker, domain)
        except Exception:  # an apology beats silence; the trace goes to the log
            log.exception("%s failed", self.name())
            speaker = Speaker(dispatcher, language_of(tracker))
            speaker.say(APOLOGY, buttons=human_buttons(speaker))
            return []
        if _ends_form(events):
            # A validation asked to end the form: drop the next question rasa-sdk appended.
            events = [
                event
                for event in events
                if not (event.get("name") == "requested_slot" and event.get("value") is not None)
            ]
        return events

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot("verified"):
            slots = [slot for slot in domain_slots if slot not in VERIFICATION_SLOTS]
            if "debt_reference" in slots and not await must_choose_debt(tracker):
                slots.remove("debt_reference")
            return slots
        if tracker.get_slot("locked") and await still_locked(tracker):
            if tracker.get_slot("requested_slot") is None:  # the form is only starting
                speaker = Speaker(dispatcher, language_of(tracker))
                speaker.say(LOCKED, buttons=human_buttons(speaker))
            return []
        return domain_slots

    async def validate_document_suffix(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        speaker = Speaker(dispatcher, language_of(tracker))
        suffix = document_suffix_in(str(value or ""))
        if suffix is None:
            speaker.say("I need exactly the last 4 characters of your document, like 1234.")
            return {"document_suffix": None}
        return {"document_suffix": suffix}

    async def validate_debt_reference(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        debts = open_debts(await BackendClient(tracker.sender_id).summary())
        chosen = debt_in_answer(str(value or ""), debts)
        if chosen is None:
            Speaker(dispatcher, language_of(tracker)).say(
                "Please choose one of the debts with the buttons, or type its number."
            )
            return {"debt_reference": None}
        return {"debt_reference": chosen["reference"]}

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


async def must_choose_debt(tracker: Tracker) -> bool:
    """Whether the person has several open debts and has not said which one this is about."""
    reference = tracker.get_slot("debt_reference")
    try:
        debts = open_debts(await BackendClient(tracker.sender_id).summary())
    except (BackendUnavailable, BackendError):
        return False  # the form's own backend call will apologise
    return len(debts) > 1 and reference not in {d["reference"] for d in debts}


class AskDebtReference(CollectionsAction):
    action_name = "action_ask_debt_reference"

    async def act(self, speaker, backend, tracker, domain):
        list_debts(speaker, open_debts(await backend.summary()), ask=True)
        return []


async def still_locked(tracker: Tracker) -> bool:
    """A lock is the backend's to say: the slot only remembers that it said so once."""
    try:
        return bool((await BackendClient(tracker.sender_id).contact()).get("locked"))
    except (BackendUnavailable, BackendError):
        return False  # verifying again will meet the lock (423) if it still holds


async def verify(speaker: Speaker, backend: BackendClient, suffix: str, born: date) -> dict:
    """Ask the backend; on success introduce the creditor and the debt, as the rules require.

    Only the backend's 423 locks the conversation. When the backend cannot be reached, the
    person is told so and asked the birth date again, so that simply answering once more
    retries; nothing sticks.
    """
    try:
        summary = await backend.verify(suffix, born.isoformat())
    except VerificationLocked:
        speaker.say(LOCKED, buttons=human_buttons(speaker))
        return {"birth_date": None, "locked": True, "verified": False, **END_FORM}
    except Refused as refusal:
        attempts = refusal.detail.get("attempts_left")
        if refusal.reason_code == "verification_ambiguous":
            with contextlib.suppress(BackendUnavailable, BackendError):
                await backend.escalate("verification_ambiguous")
            speaker.say(
                "I couldn't confirm your identity automatically. A member of our team "
                "will help you.",
                buttons=human_buttons(speaker),
            )
            return {"document_suffix": None, "birth_date": None, **END_FORM}
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
        return {"birth_date": None}
    introduce_debt(speaker, summary, negotiable_debt(summary))
    debt = only_debt(summary)  # with several open debts the person chooses when it matters
    return {
        "birth_date": born.isoformat(),
        "verified": True,
        "locked": False,
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
