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
    TooSoon,
    VerificationLocked,
)
from actions.backend_types import Debt, DebtorSummary
from actions.base import APOLOGY, CollectionsAction, Question, human_buttons
from actions.debt_view import introduce_debt, list_debts, negotiable_debt, only_debt, open_debts
from actions.parsing import choose_listed_option, fold, looks_like_document_suffix, parse_date
from actions.speaker import Speaker, language_of
from locales import N_

log = logging.getLogger(__name__)
VERIFICATION_SLOTS = ("document_suffix", "birth_date", "one_time_code")


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


class AskOneTimeCode(Question):
    action_name = "action_ask_one_time_code"
    question = N_("Please type the 6-digit code we sent you by e-mail.")


LOCKED_BUT_CODE = N_(
    "For your security, verification with these details is paused. If they are right, "
    "we've just e-mailed you a 6-digit code: please type it here."
)
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
        if not tracker.get_slot("code_sent"):
            domain_slots = [slot for slot in domain_slots if slot != "one_time_code"]
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
        debts = open_debts(await BackendClient.for_tracker(tracker).summary())
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
        metadata = (tracker.latest_message or {}).get("metadata") or {}
        return await verify(
            speaker,
            BackendClient.for_tracker(tracker),
            tracker.get_slot("document_suffix"),
            born,
            metadata.get("client_address"),
            reminded=tracker.get_slot("reminded_debt"),
        )

    async def validate_one_time_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        speaker = Speaker(dispatcher, language_of(tracker))
        code = re.sub(r"\D", "", str(value or ""))
        if len(code) != 6:
            speaker.say("Please type the 6 digits of the code we sent you, like 123456.")
            return {"one_time_code": None}
        backend = BackendClient.for_tracker(tracker)
        try:
            summary = await backend.verify_code(code)
        except Refused as refusal:
            if refusal.reason_code == "code_incorrect":
                speaker.say_plural(
                    "That code isn't right. You have {count} try left.",
                    "That code isn't right. You have {count} tries left.",
                    refusal.detail.get("attempts_left") or 0,
                )
                return {"one_time_code": None}
            speaker.say("That code has expired. Let's start again.")
            return {
                "one_time_code": None,
                "code_sent": False,
                "document_suffix": None,
                "birth_date": None,
            }
        except BackendUnavailable:
            speaker.say(APOLOGY, buttons=human_buttons(speaker))
            return {"one_time_code": None}
        return {
            "one_time_code": "••••••",
            **verified_as(speaker, summary, reminded=tracker.get_slot("reminded_debt")),
        }


async def must_choose_debt(tracker: Tracker) -> bool:
    """Whether the person has several open debts and has not said which one this is about."""
    reference = tracker.get_slot("debt_reference")
    try:
        debts = open_debts(await BackendClient.for_tracker(tracker).summary())
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
        return bool((await BackendClient.for_tracker(tracker).contact()).get("locked"))
    except (BackendUnavailable, BackendError):
        return False  # verifying again will meet the lock (423) if it still holds


async def verify(
    speaker: Speaker,
    backend: BackendClient,
    suffix: str,
    born: date,
    client_address: str | None = None,
    *,
    reminded: str | None = None,
) -> dict:
    """Ask the backend; on success introduce the creditor and the debt, as the rules require.

    Only the backend's 423 locks the conversation. When the backend cannot be reached, the
    person is told so and asked the birth date again, so that simply answering once more
    retries; nothing sticks.
    """
    try:
        summary = await backend.verify(suffix, born.isoformat(), client_address)
    except VerificationLocked as locked:
        if locked.detail.get("second_factor") == "code_if_matched":
            # The real person gets a code by e-mail; a guesser learns nothing either way.
            speaker.say(LOCKED_BUT_CODE)
            return {"birth_date": born.isoformat(), "code_sent": True, "verified": False}
        speaker.say(LOCKED, buttons=human_buttons(speaker))
        return {"birth_date": None, "locked": True, "verified": False, **END_FORM}
    except TooSoon as wait:
        minutes = max(1, -(-int(wait.detail.get("retry_after_seconds") or 60) // 60))
        speaker.say_plural(
            "For your security, please wait {count} minute before trying again.",
            "For your security, please wait {count} minutes before trying again.",
            minutes,
        )
        return {"document_suffix": None, "birth_date": None, **END_FORM}
    except Refused as refusal:
        attempts = refusal.detail.get("attempts_left")
        if refusal.reason_code in ("verification_ambiguous", "second_factor_unavailable"):
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
    if "second_factor" in summary:
        speaker.say(
            "Thank you. To be sure it's you, I've sent a 6-digit code to {destination}. "
            "Please type it here.",
            destination=summary["destination"],
        )
        return {"birth_date": born.isoformat(), "code_sent": True, "verified": False}
    return {"birth_date": born.isoformat(), **verified_as(speaker, summary, reminded=reminded)}


def verified_as(
    speaker: Speaker, summary: DebtorSummary, *, reminded: str | None = None
) -> dict[str, Any]:
    """Introduce the creditor and the debts; the slots of a verified conversation.

    `reminded` is the debt of a reminder this conversation answers (actions/reminders.py):
    the conversation is about it when it is one of this person's open debts; otherwise it is
    as if no debt was named.
    """
    introduce_debt(speaker, summary, negotiable_debt(summary))
    several = open_debts(summary)
    debt = next((d for d in several if d["reference"] == reminded), None)
    if debt is not None and len(several) > 1:
        speaker.say(
            "Let's look at {product} ({reference}), the debt in our last message.",
            product=debt["product"],
            reference=debt["reference"],
        )
    # With several open debts and none reminded, the person chooses when it matters.
    debt = debt or only_debt(summary)
    return {
        "verified": True,
        "code_sent": False,
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
