"""Answers about the debt: balance, due date, terms, payment link; disputes."""

from __future__ import annotations

from rasa_sdk.events import SlotSet

from actions.backend_client import BackendClient, Refused
from actions.backend_types import Debt
from actions.base import CollectionsAction, human_buttons
from actions.debt_view import day, describe_balance, list_debts, money, open_debts, percent
from actions.speaker import Speaker


class DebtNotChosen(Exception):
    """The person has several open debts and this answer needs one: they were asked which."""


def chosen_debt(debts: list[Debt], tracker) -> Debt | None:
    """The open debt the person chose, or the only one; None with several and none chosen."""
    reference = tracker.get_slot("debt_reference")
    chosen = next((d for d in debts if d["reference"] == reference), None)
    return chosen or (debts[0] if len(debts) == 1 else None)


async def current_debt(speaker: Speaker, backend: BackendClient, tracker) -> Debt | None:
    """The debt an answer is about; with several open debts and none chosen, ask which."""
    debts = open_debts(await backend.summary())
    if not debts:
        speaker.say("You have no open debts with us. Is there anything else I can help with?")
        return None
    debt = chosen_debt(debts, tracker)
    if debt is None:
        list_debts(speaker, debts, ask=True)
        raise DebtNotChosen
    return debt


async def answer_balance(speaker, backend, tracker):
    debts = open_debts(await backend.summary())
    if not debts:
        speaker.say("You have no open debts with us. Is there anything else I can help with?")
        return []
    debt = chosen_debt(debts, tracker)
    if debt is None:
        list_debts(speaker, debts, ask=False)  # every balance at once
    else:
        describe_balance(speaker, debt)
    return []


async def answer_due_date(speaker, backend, tracker):
    debt = await current_debt(speaker, backend, tracker)
    if not debt:
        return []
    if debt["days_overdue"] > 0:
        speaker.say(
            "The payment was due on {due_date}. If that's hard right now, we can look "
            "at a payment plan together.",
            due_date=day(speaker, debt["due_date"]),
            buttons=[speaker.button("See payment options", "/request_payment_plan")],
        )
    else:
        speaker.say("The payment is due on {due_date}.", due_date=day(speaker, debt["due_date"]))
    return []


async def answer_terms(speaker, backend, tracker):
    debt = await current_debt(speaker, backend, tracker)
    if not debt:
        return []
    terms = await backend.terms(debt["reference"])
    creditor = terms["creditor"]
    speaker.say(
        "The terms of {product} ({reference}): late interest of {interest} a month and a late "
        "fee of {fee} on overdue amounts. Plans can have up to {max_installments} installments "
        "of at least {min_installment}. The creditor is {legal_name}, {legal_id_kind} "
        "{legal_id}, {address}.",
        product=terms["product"],
        reference=terms["reference"],
        interest=percent(speaker, terms["late_interest_monthly_pct"]),
        fee=percent(speaker, terms["late_fee_pct"]),
        max_installments=terms["max_installments"],
        min_installment=money(speaker, terms["min_installment"], terms["currency"]),
        legal_name=creditor["legal_name"],
        legal_id_kind=creditor["legal_id_kind"],
        legal_id=creditor["legal_id"],
        address=creditor["address"],
    )
    speaker.say(
        "If the debt stays unpaid, interest and fees keep adding up and the creditor may report "
        "it to credit bureaus as the law allows. You can always contact {phone} or {email}.",
        phone=creditor["support_phone"],
        email=creditor["support_email"],
    )
    return []


async def send_payment_link(speaker, backend, tracker):
    debt = await current_debt(speaker, backend, tracker)
    if not debt:
        return []
    if debt["payment_url"]:
        speaker.say(
            "You can pay {amount} securely here: {url}",
            amount=money(speaker, debt["outstanding"], debt["currency"]),
            url=debt["payment_url"],
        )
    else:
        speaker.say(
            "Online payment isn't available for this debt. A member of our team can help you pay.",
            buttons=human_buttons(speaker),
        )
    return []


async def open_dispute(speaker, backend, tracker):
    debt = await current_debt(speaker, backend, tracker)
    if not debt:
        return []
    text = (tracker.latest_message or {}).get("text")
    try:
        await backend.dispute(debt["reference"], dispute_reason(text), text)
    except Refused as refusal:
        if refusal.reason_code == "dispute_already_open":
            speaker.say(
                "Your dispute is already registered and our team is reviewing it. "
                "Collection stays paused meanwhile."
            )
            return []
        raise
    speaker.say(
        "I've registered your dispute and paused collection of this debt. A member of "
        "our team will review it and contact you. You won't receive payment reminders "
        "for it meanwhile."
    )
    return [SlotSet("resolved", True)]


def dispute_reason(text: str | None) -> str:
    folded = (text or "").lower()
    if any(word in folded for word in ("fraud", "golpe", "fraude", "truffa", "clon")):
        return "fraud"
    if any(word in folded for word in ("paguei", "pagué", "pagato", "paid", "pago")):
        return "already_paid"
    if any(word in folded for word in ("valor", "amount", "importe", "importo", "cobrado")):
        return "wrong_amount"
    if any(
        word in folded
        for word in (
            "não é meu",
            "nao e meu",
            "no es mío",
            "no es mio",
            "non è mio",
            "not mine",
            "reconheço",
            "reconozco",
            "riconosco",
            "recognize",
            "never",
        )
    ):
        return "not_mine"
    return "other"


ANSWERS = {
    "balance": answer_balance,
    "due_date": answer_due_date,
    "terms": answer_terms,
    "payment_link": send_payment_link,
    "dispute": open_dispute,
}


async def answer(request: str, speaker, backend, tracker) -> list:
    """Answer a request, or, when it needs a debt the person has not chosen, remember it."""
    try:
        return await ANSWERS[request](speaker, backend, tracker)
    except DebtNotChosen:
        return [SlotSet("pending_request", request)]


def _answer_action(action: str, request: str):
    class Answer(CollectionsAction):
        action_name = action

        async def act(self, speaker, backend, tracker, domain):
            return await answer(request, speaker, backend, tracker)

    Answer.__name__ = f"Answer_{request}"
    return Answer


AnswerBalance = _answer_action("action_answer_balance", "balance")
AnswerDueDate = _answer_action("action_answer_due_date", "due_date")
AnswerTerms = _answer_action("action_answer_terms", "terms")
SendPaymentLink = _answer_action("action_send_payment_link", "payment_link")
OpenDispute = _answer_action("action_open_dispute", "dispute")


class AnswerPending(CollectionsAction):
    """After the verification form: answer what was asked before it, unless it failed."""

    action_name = "action_answer_pending"

    async def act(self, speaker, backend, tracker, domain):
        if not tracker.get_slot("verified"):
            return [SlotSet("pending_request", None)]
        request = tracker.get_slot("pending_request") or "balance"
        return [SlotSet("pending_request", None), *await answer(request, speaker, backend, tracker)]


class ChooseDebt(CollectionsAction):
    """A debt picked from the list (outside a form): remember it, answer what was pending."""

    action_name = "action_choose_debt"

    async def act(self, speaker, backend, tracker, domain):
        chosen = next(
            (
                e.get("value")
                for e in tracker.latest_message.get("entities", [])
                if e["entity"] == "debt_reference"
            ),
            None,
        )
        debts = open_debts(await backend.summary())
        if chosen not in {d["reference"] for d in debts}:
            list_debts(speaker, debts, ask=True)
            return []
        events = [SlotSet("debt_reference", chosen), SlotSet("pending_request", None)]
        request = tracker.get_slot("pending_request") or "balance"
        tracker.slots["debt_reference"] = chosen
        return [*events, *await answer(request, speaker, backend, tracker)]
