"""Payment-plan negotiation: ask, quote, counter-offer, summarise, confirm, create.

The backend decides; this module only ever states plans the backend returned for this debt.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend_client import BackendClient, BackendError, BackendUnavailable, Refused
from actions.backend_types import Debt, Proposal
from actions.base import APOLOGY, CollectionsAction, Question, human_buttons
from actions.debt_view import day, money, only_debt, open_debts, percent
from actions.identity import END_FORM, VerifyingFormValidation
from actions.parsing import choose_listed_option, fold, interpret_plan_ask
from actions.parsing.amounts import read_message
from actions.speaker import Speaker, language_of
from locales import N_, translate_plural

PLAN_SLOTS = ("plan_ask", "plan_choice", "plan_confirmed", "plan_options")

# Why the backend did not accept the ask as it was, in words for the debtor.
REASONS = {
    "too_many_installments": N_("That's more installments than I can offer for this debt."),
    "installment_below_minimum": N_("That amount is below the smallest installment I can offer."),
    "plan_too_long": N_("That plan would last longer than I can offer."),
    "down_payment_too_low": N_("That plan needs a larger down payment."),
    "down_payment_exceeds_balance": N_("That down payment is more than the balance."),
    "first_payment_too_late": N_("The first payment needs to be a little sooner."),
    "start_date_in_past": N_("That date has already passed."),
    "settlement_discount_too_high": N_(
        "I can't accept that amount to settle the debt, but I can offer a discount."
    ),
    "debt_disputed": N_(
        "This debt is under dispute, so collection is paused until our team reviews it."
    ),
    "plan_already_active": N_("You already have an active payment plan for this debt."),
    "debt_paid": N_("This debt is already paid. Thank you!"),
    "too_many_broken_promises": N_(
        "I can't set up a new plan automatically for this debt. A "
        "member of our team can look at it with you."
    ),
}


def reason_text(speaker: Speaker, reason_code: str | None) -> str:
    message_id = REASONS.get(reason_code or "", N_("I can't offer that plan for this debt."))
    return speaker.phrase(message_id)


def interpret_ask(tracker: Tracker, text: str | None) -> dict | None:
    entities = {e["entity"]: e.get("value") for e in tracker.latest_message.get("entities", [])}
    return interpret_plan_ask(text or "", entities)


def option_from_proposal(proposal: Proposal) -> dict:
    """An option the person can pick: the ask that agrees it and the quote it comes from."""
    ask = {name: value for name, value in proposal["ask"].items() if value is not None}
    quote = {"quote_id": proposal["quote_id"], "fingerprint": proposal["fingerprint"]}
    return {"ask": ask, "quote": quote, "proposal": proposal}


def describe(speaker: Speaker, proposal: Proposal) -> str:
    """A quoted or an agreed plan in words (both carry the same fields)."""
    currency = proposal["currency"]
    if proposal["kind"] == "settlement":
        return speaker.phrase(
            "a single payment of {amount} on {date}, with a discount of {discount}",
            amount=money(speaker, proposal["total"], currency),
            date=day(speaker, proposal["first_due_date"]),
            discount=money(speaker, proposal["discount"], currency),
        )
    regular = [p for p in proposal["schedule"] if not p["is_down_payment"]]
    first, last = regular[0], regular[-1]
    if Decimal(last["amount"]) == Decimal(first["amount"]):
        installments = translate_plural(
            speaker.language,
            "{count} monthly installment of {amount}, on {date}",
            "{count} monthly installments of {amount}, the first on {date}",
            len(regular),
            amount=money(speaker, first["amount"], currency),
            date=day(speaker, first["due_date"]),
        )
    else:  # the last one takes the rounding residue
        installments = translate_plural(
            speaker.language,
            "{count} monthly installment of {amount} (the last one {last}), on {date}",
            "{count} monthly installments of {amount} (the last one {last}), the first on {date}",
            len(regular),
            amount=money(speaker, first["amount"], currency),
            last=money(speaker, last["amount"], currency),
            date=day(speaker, first["due_date"]),
        )
    if Decimal(proposal["down_payment"]) > 0:
        return speaker.phrase(
            "a down payment of {down} on {date}, then {installments}",
            down=money(speaker, proposal["down_payment"], currency),
            date=day(speaker, proposal["first_due_date"]),
            installments=installments,
        )
    return installments


def cost_of(speaker: Speaker, proposal: Proposal) -> str:
    """What the plan costs, as the law asks before agreeing: rates, interest, total."""
    total = money(speaker, proposal["total"], proposal["currency"])
    if Decimal(proposal["interest_monthly_pct"]) == 0:
        return speaker.phrase("No interest; total to pay: {total}.", total=total)
    return speaker.phrase(
        "Interest: {monthly_rate} a month ({annual_rate} a year, effective), {interest} in "
        "total; total to pay: {total}.",
        monthly_rate=percent(speaker, proposal["interest_monthly_pct"]),
        annual_rate=percent(speaker, proposal["interest_annual_pct"]),
        interest=money(speaker, proposal["interest"], proposal["currency"]),
        total=total,
    )


def short_label(speaker: Speaker, proposal: Proposal) -> str:
    currency = proposal["currency"]
    if proposal["kind"] == "settlement":
        return speaker.phrase(
            "Pay {amount} once", amount=money(speaker, proposal["total"], currency)
        )
    regular = [p for p in proposal["schedule"] if not p["is_down_payment"]]
    return speaker.phrase(
        "{count} × {amount}",
        count=proposal["installment_count"],
        amount=money(speaker, regular[0]["amount"], currency),
    )


async def selected_debt(tracker: Tracker, backend: BackendClient) -> Debt | None:
    """The open debt this conversation is about: the one chosen, or the only one."""
    summary = await backend.summary()
    reference = tracker.get_slot("debt_reference")
    chosen = next((d for d in open_debts(summary) if d["reference"] == reference), None)
    return chosen or only_debt(summary)


async def debt_reference(tracker: Tracker, backend: BackendClient) -> str | None:
    debt = await selected_debt(tracker, backend)
    return debt["reference"] if debt else None


class AskPlanAsk(Question):
    action_name = "action_ask_plan_ask"
    question = N_(
        "How much could you pay each month, or in how many installments would you "
        "like to pay? You can also offer a single payment to settle the debt."
    )


class AskPlanChoice(CollectionsAction):
    action_name = "action_ask_plan_choice"

    async def act(self, speaker, backend, tracker, domain):
        options = tracker.get_slot("plan_options") or []
        lines = [
            f"{number}. {describe(speaker, option['proposal'])}"
            for number, option in enumerate(options, start=1)
        ]
        buttons = [
            {
                "title": short_label(speaker, option["proposal"]),
                "payload": f'/inform{{"plan_option":"{number}"}}',
            }
            for number, option in enumerate(options, start=1)
        ]
        speaker.say(
            "These are the options I can offer:\n{options}\nWhich one works for you? "
            "You can also tell me another amount or number of installments.",
            options="\n".join(lines),
            buttons=buttons,
        )
        return []


class AskPlanConfirmed(CollectionsAction):
    action_name = "action_ask_plan_confirmed"

    async def act(self, speaker, backend, tracker, domain):
        option = chosen_option(tracker)
        if option is None:
            return [SlotSet("plan_choice", None)]
        proposal = option["proposal"]
        speaker.say(
            "To confirm: {plan}. {cost} Shall I set up this plan?",
            plan=describe(speaker, proposal),
            cost=cost_of(speaker, proposal),
            buttons=[speaker.button("Yes, set it up", "/affirm"), speaker.button("No", "/deny")],
        )
        return []


def chosen_option(tracker: Tracker) -> dict | None:
    options = tracker.get_slot("plan_options") or []
    choice = tracker.get_slot("plan_choice")
    if choice is None or not str(choice).isdigit() or int(choice) >= len(options):
        return None
    return options[int(choice)]


class ValidatePaymentPlanForm(VerifyingFormValidation):
    def name(self) -> str:
        return "validate_payment_plan_form"

    async def validate_plan_ask(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not tracker.get_slot("verified"):
            # Said together with the request, before verification: nothing can be quoted
            # yet, so the question is asked again once the person is verified.
            return {"plan_ask": None}
        return await self._quote(value, dispatcher, tracker, slot="plan_ask")

    async def validate_plan_choice(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        # Options are numbered from 1, as listed to the person and in the buttons' payloads.
        # Here a bare number up to the number of options is always an option ("1" after the
        # list is the first option, never one installment), as are "opção 1" or "la prima".
        options = tracker.get_slot("plan_options") or []
        number = choose_listed_option(str(value if value is not None else ""), len(options))
        if number is not None:
            return {"plan_choice": str(number - 1)}
        # Not one of the options: maybe a new amount or number of installments.
        return await self._quote(value, dispatcher, tracker, slot="plan_choice")

    async def validate_plan_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            Speaker(dispatcher, language_of(tracker)).say(
                "Please answer yes or no.",
                buttons=[
                    {"title": "👍", "payload": "/affirm"},
                    {"title": "👎", "payload": "/deny"},
                ],
            )
        return {"plan_confirmed": value}

    async def _quote(self, value, dispatcher, tracker, *, slot: str) -> dict[str, Any]:
        speaker = Speaker(dispatcher, language_of(tracker))
        text = str(value) if value is not None else ""
        ask = interpret_ask(tracker, text)
        settling = ask is None and wants_settlement(text)
        if settling:
            # "Can I settle for less?": the policy's best settlement, asked for as the
            # smallest lump sum, which the backend answers with its largest allowed discount.
            ask = {"lump_sum": SMALLEST_LUMP_SUM}
        if ask is None:
            speaker.say(
                "Sorry, I didn't get that. Tell me a number of installments (like 6) or "
                "an amount per month (like 150)."
            )
            return {slot: None}
        backend = BackendClient.for_tracker(tracker)
        try:
            reference = await debt_reference(tracker, backend)
            quote = await backend.quote(reference, ask)
        except (BackendUnavailable, Refused):
            speaker.say(APOLOGY, buttons=human_buttons(speaker))
            return _end_form(str(value))
        if quote["outcome"] == "accepted":
            option = option_from_proposal(quote["plan"])
            return {"plan_ask": str(value), "plan_options": [option], "plan_choice": "0"}
        if quote["outcome"] == "counter_offer":
            if settling:
                speaker.say("This is the best I can offer to settle the debt in one payment.")
            else:
                speaker.say(reason_text(speaker, quote["reason_code"]))
            options = [option_from_proposal(p) for p in quote["counter_offers"]]
            return {"plan_ask": str(value), "plan_options": options, "plan_choice": None}
        speaker.say(reason_text(speaker, quote["reason_code"]), buttons=human_buttons(speaker))
        return _end_form(str(value))


SMALLEST_LUMP_SUM = "0.01"
_DISCOUNT_WORDS = frozenset({"desconto", "descuento", "sconto", "discount"})


def wants_settlement(text: str) -> bool:
    """A request to settle or for a discount, with no amount: "can I settle for less?"."""
    return read_message(text).lump_sum or bool(
        _DISCOUNT_WORDS & set(re.findall(r"[a-z]+", fold(text)))
    )


def _end_form(asked: str) -> dict[str, Any]:
    """End the form without a plan: what was said stays said, nothing is agreed."""
    return {"plan_ask": asked, "plan_options": None, **END_FORM}


class CreatePlan(CollectionsAction):
    """After the form: create the confirmed plan exactly as quoted, or close kindly."""

    action_name = "action_create_plan"

    async def act(self, speaker, backend, tracker, domain):
        reset = [SlotSet(slot, None) for slot in PLAN_SLOTS]
        if not tracker.get_slot("verified"):
            return reset
        option = chosen_option(tracker)
        if not tracker.get_slot("plan_confirmed") or option is None:
            # Declined: say so kindly. Ended early (a refusal or an error): already said.
            if tracker.get_slot("plan_confirmed") is False:
                speaker.say(
                    "No problem. If you'd like, we can look at other options later, or "
                    "you can talk to a person.",
                    buttons=human_buttons(speaker),
                )
            return reset
        reference = await debt_reference(tracker, backend)
        quote = option.get("quote") or {}
        key = idempotency_key(tracker.sender_id, reference, option["ask"], quote)
        try:
            plan = await backend.accept_plan(reference, option["ask"], quote, key)
        except Refused as refusal:
            if refusal.reason_code == "quote_changed":
                self.numbers_changed(speaker, refusal.detail.get("counter_offers") or [])
            else:
                speaker.say(
                    reason_text(speaker, refusal.reason_code), buttons=human_buttons(speaker)
                )
            return reset
        # What was created, as the backend stored it: the same plan that was quoted.
        first = plan["schedule"][0]
        speaker.say(
            "Done! Your plan is set up: {plan}. The first payment of {amount} is due on "
            "{date}. I'll remind you before each due date.",
            plan=describe(speaker, plan),
            amount=money(speaker, first["amount"], plan["currency"]),
            date=day(speaker, first["due_date"]),
        )
        return [*reset, SlotSet("resolved", True)]

    @staticmethod
    def numbers_changed(speaker: Speaker, offers: list[dict]) -> None:
        """The quote went stale (a payment, new terms): nothing is agreed; say what holds now.

        The form has ended, so the new plans are shown in words and the person can start
        again with one tap: the form then quotes afresh, and nothing is agreed unseen.
        """
        buttons = [
            speaker.button("Look at the plans again", "/request_payment_plan"),
            *human_buttons(speaker),
        ]
        if not offers:
            speaker.say(
                "I'm sorry: the numbers changed since I showed you that plan, so I haven't "
                "set it up. We can look at the options again, or you can talk to a person.",
                buttons=buttons,
            )
            return
        lines = [f"- {describe(speaker, offer)}. {cost_of(speaker, offer)}" for offer in offers]
        speaker.say(
            "I'm sorry: the numbers changed since I showed you that plan (a payment or new "
            "terms), so I haven't set it up. This is what I can offer now:\n{options}\nIf "
            "you'd like it, let's look at the plans again.",
            options="\n".join(lines),
            buttons=buttons,
        )


def idempotency_key(sender_id: str, reference: str, ask: dict, quote: dict) -> str:
    """The same confirmation of the same quote, sent twice, creates one plan."""
    canonical = json.dumps(
        {"sender": sender_id, "debt": reference, "ask": ask, "quote": quote.get("fingerprint")},
        sort_keys=True,
    )
    return "bot-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


async def hardship_escalated(backend) -> bool:
    """Whether the backend queued this conversation for staff because of the hardship."""
    try:
        answer = await backend.escalate("hardship")
    except (BackendUnavailable, BackendError):
        return False  # the bot goes on with the gentlest options
    return (answer or {}).get("status") == "escalated"


class Hardship(CollectionsAction):
    """Empathy first; then the gentlest options the policy allows, or a person."""

    action_name = "action_hardship"

    async def act(self, speaker, backend, tracker, domain):
        speaker.say(
            "I'm really sorry you're going through this, and thank you for telling me. "
            "We'll find a way that respects what you can manage."
        )
        if await hardship_escalated(backend):
            # The deployment hands hardship to staff (escalate_on_hardship): a person goes on.
            speaker.say("I've asked a member of our team to look at this with you here.")
            return [SlotSet("hardship", True)]
        buttons = [
            speaker.button("See gentle payment options", "/request_payment_plan"),
            *human_buttons(speaker),
        ]
        if not tracker.get_slot("verified"):
            speaker.say(
                "When you're ready, I can show you the gentlest payment options after "
                "confirming your identity, or you can talk to a person.",
                buttons=buttons,
            )
            return [SlotSet("hardship", True)]
        reference = await debt_reference(tracker, backend)
        if reference is None:  # several open debts: the plan form will ask which one
            speaker.say("Which debt would you like to look at?", buttons=buttons)
            return [SlotSet("hardship", True)]
        quote = await backend.quote(reference, {"monthly_amount": "0.01"})
        gentlest = next((p for p in quote["counter_offers"] if p["kind"] == "installments"), None)
        if gentlest:
            speaker.say(
                "The lowest payments I can offer are {plan}.",
                plan=describe(speaker, gentlest),
                buttons=buttons,
            )
        else:
            speaker.say(reason_text(speaker, quote["reason_code"]), buttons=buttons)
        return [SlotSet("hardship", True)]
