"""Promises to pay and "I already paid" claims, each collected by a form."""

from __future__ import annotations

from datetime import date
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend_client import BackendClient, BackendUnavailable, Refused
from actions.base import CollectionsAction, Question, human_buttons
from actions.debt_view import day, money
from actions.identity import VerifyingFormValidation
from actions.parsing import month_first_for, parse_amount, parse_date
from actions.plans import debt_reference, selected_debt
from actions.speaker import Speaker, language_of
from locales import N_, format_weekday_day


async def debtor_calendar(tracker: Tracker) -> tuple[date, bool]:
    """Today where the debtor lives, as the backend sees it, and their date order.

    The order follows the country: 03/04 is March 4 in the United States, 3 April in Ireland.
    """
    try:
        summary = await BackendClient.for_tracker(tracker).summary()
        return date.fromisoformat(summary["today"]), month_first_for(summary.get("country"))
    except (BackendUnavailable, Refused, KeyError):
        return date.today(), language_of(tracker) == "en"


def entity(tracker: Tracker, name: str) -> str | None:
    for found in tracker.latest_message.get("entities", []):
        if found["entity"] == name:
            return str(found.get("value"))
    return None


class AskPromiseAmount(Question):
    action_name = "action_ask_promise_amount"
    question = N_("How much will you pay?")


class AskPromiseDate(Question):
    action_name = "action_ask_promise_date"
    question = N_("On which day will you pay? For example: next Friday, or the 15th.")


class AskPromiseConfirmed(CollectionsAction):
    """Repeat the promise in the person's own terms before anything is recorded."""

    action_name = "action_ask_promise_confirmed"

    async def act(self, speaker, backend, tracker, domain):
        debt = await selected_debt(tracker, backend)
        currency = debt["currency"] if debt else None
        amount = tracker.get_slot("promise_amount")
        promised = date.fromisoformat(tracker.get_slot("promise_date"))
        speaker.say(
            "So you'll pay {amount} on {date}. Is that right?",
            amount=money(speaker, amount, currency) if currency else amount,
            date=format_weekday_day(promised, speaker.language),
            buttons=[speaker.button("Yes", "/affirm"), speaker.button("No", "/deny")],
        )
        return []


class AskPaidOn(Question):
    action_name = "action_ask_paid_on"
    question = N_("Thank you for letting us know. On which day did you pay?")


class ValidatePromiseForm(VerifyingFormValidation):
    def name(self) -> str:
        return "validate_promise_form"

    async def validate_promise_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        amount = parse_amount(entity(tracker, "amount") or str(value or ""))
        if amount is None:
            Speaker(dispatcher, language_of(tracker)).say(
                "Please tell me the amount, for example 150."
            )
            return {"promise_amount": None}
        return {"promise_amount": str(amount)}

    async def validate_promise_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is False:
            # Not right: ask both again rather than record what the person did not mean.
            Speaker(dispatcher, language_of(tracker)).say("No problem, let's correct it.")
            return {"promise_confirmed": None, "promise_amount": None, "promise_date": None}
        return {"promise_confirmed": value}

    async def validate_promise_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        language = language_of(tracker)
        today, month_first = await debtor_calendar(tracker)
        promised = parse_date(
            entity(tracker, "date") or str(value or ""), today=today, month_first=month_first
        )
        if promised is None or promised < today:
            Speaker(dispatcher, language).say(
                "I couldn't read that date. Please tell me a day from today on, for example "
                "next Friday."
            )
            return {"promise_date": None}
        return {"promise_date": promised.isoformat()}


class ValidatePaymentClaimForm(VerifyingFormValidation):
    def name(self) -> str:
        return "validate_payment_claim_form"

    async def validate_paid_on(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        language = language_of(tracker)
        today, month_first = await debtor_calendar(tracker)
        paid = parse_date(
            entity(tracker, "date") or str(value or ""),
            today=today,
            month_first=month_first,
            past=True,
        )
        if paid is not None and paid > today:
            paid = None
        if paid is None:
            Speaker(dispatcher, language).say(
                "I couldn't read that date. Please write it like {example}.",
                example="11/20" if language == "en" else "20/11",
            )
            return {"paid_on": None}
        return {"paid_on": paid.isoformat()}


class RecordPromise(CollectionsAction):
    action_name = "action_record_promise"

    async def act(self, speaker, backend, tracker, domain):
        reset = [
            SlotSet("promise_amount", None),
            SlotSet("promise_date", None),
            SlotSet("promise_confirmed", None),
        ]
        amount, promised = tracker.get_slot("promise_amount"), tracker.get_slot("promise_date")
        confirmed = tracker.get_slot("promise_confirmed")
        if not tracker.get_slot("verified") or not amount or not promised or not confirmed:
            return reset
        reference = await debt_reference(tracker, backend)
        try:
            promise = await backend.promise(reference, amount, promised)
        except Refused as refusal:
            speaker.say(promise_refusal(speaker, refusal), buttons=human_buttons(speaker))
            return reset
        speaker.say(
            "Thank you! I've noted your promise to pay {amount} on {date}. I'll send "
            "you a reminder the day before.",
            amount=money(speaker, promise["amount"], promise["currency"]),
            date=day(speaker, promise["promised_date"]),
        )
        return [*reset, SlotSet("resolved", True)]


def promise_refusal(speaker: Speaker, refusal: Refused) -> str:
    reason = refusal.reason_code
    if reason == "first_payment_too_late" and refusal.detail.get("latest_date"):
        return speaker.phrase(
            "I can only accept a date up to {date}.",
            date=day(speaker, refusal.detail["latest_date"]),
        )
    if reason == "promise_already_active":
        return speaker.phrase("You already have a promise to pay registered for this debt.")
    if reason == "amount_exceeds_balance":
        return speaker.phrase("That amount is more than what you owe.")
    if reason == "plan_already_active":
        return speaker.phrase("You already have an active payment plan for this debt.")
    if reason == "debt_disputed":
        return speaker.phrase(
            "This debt is under dispute, so collection is paused until our team reviews it."
        )
    return speaker.phrase(
        "I can't register that promise automatically. A member of our team can help."
    )


class RecordPaymentClaim(CollectionsAction):
    action_name = "action_record_payment_claim"

    async def act(self, speaker, backend, tracker, domain):
        paid_on = tracker.get_slot("paid_on")
        if not tracker.get_slot("verified") or not paid_on:
            return [SlotSet("paid_on", None)]
        reference = await debt_reference(tracker, backend)
        await backend.payment_claim(reference, paid_on)
        speaker.say(
            "Thanks for letting us know. I've registered that you paid on {date}. Our "
            "team will check it, and you won't be charged twice. Payments can take up "
            "to 3 business days to show.",
            date=day(speaker, paid_on),
        )
        return [SlotSet("paid_on", None), SlotSet("resolved", True)]
