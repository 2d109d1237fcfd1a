"""How a debt is put into words: amounts and dates in the debtor's locale."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from actions.backend_types import Debt, DebtorSummary
from actions.speaker import Speaker
from locales import format_day, format_money, format_percent

NEGOTIABLE = ("overdue", "current")


def open_debts(summary: DebtorSummary) -> list[Debt]:
    """The debts still open, the most pressing first (negotiable, then most overdue)."""
    found = [d for d in summary.get("debts", []) if d["status"] not in ("paid", "written_off")]
    return sorted(found, key=lambda d: (d["status"] in NEGOTIABLE, d["days_overdue"]), reverse=True)


def negotiable_debt(summary: DebtorSummary) -> Debt | None:
    """The most pressing open debt (for a person with one debt, the debt)."""
    found = open_debts(summary)
    return found[0] if found else None


def only_debt(summary: DebtorSummary) -> Debt | None:
    """The open debt when there is exactly one; with several the person must choose."""
    found = open_debts(summary)
    return found[0] if len(found) == 1 else None


def debt_choice_buttons(speaker: Speaker, debts: list[Debt]) -> list[dict[str, str]]:
    return [
        {
            "title": speaker.phrase(
                "{product} ({reference})", product=debt["product"], reference=debt["reference"]
            ),
            "payload": f'/inform{{"debt_reference":"{debt["reference"]}"}}',
        }
        for debt in debts
    ]


def list_debts(speaker: Speaker, debts: list[Debt], *, ask: bool) -> None:
    """Each open debt on a line (product, reference, balance), as buttons when `ask`."""
    lines = "\n".join(
        speaker.phrase(
            "{number}. {product} ({reference}): {amount}",
            number=number,
            product=debt["product"],
            reference=debt["reference"],
            amount=money(speaker, debt["outstanding"], debt["currency"]),
        )
        for number, debt in enumerate(debts, start=1)
    )
    if ask:
        speaker.say(
            "You have {count} open debts with us:\n{debts}\nWhich one is this about?",
            count=len(debts),
            debts=lines,
            buttons=debt_choice_buttons(speaker, debts),
        )
    else:
        speaker.say("You have {count} open debts with us:\n{debts}", count=len(debts), debts=lines)


def money(speaker: Speaker, amount: str | Decimal, currency: str) -> str:
    return format_money(Decimal(str(amount)), currency, speaker.language)


def percent(speaker: Speaker, value: str | Decimal) -> str:
    """A percentage given as 1.5 (meaning 1.5%), in the locale's style: 1,5% · 1,5 %."""
    return format_percent(Decimal(str(value)) / 100, speaker.language)


def day(speaker: Speaker, iso: str) -> str:
    return format_day(date.fromisoformat(iso), speaker.language)


def introduce_debt(speaker: Speaker, summary: DebtorSummary, debt: Debt | None) -> None:
    """The first message after verification names the creditor and says what this is about."""
    several = open_debts(summary)
    if len(several) > 1:
        creditor = several[0]["creditor"]
        speaker.say(
            "Thank you, {name}, your identity is confirmed. I'm the virtual assistant of "
            "{creditor} ({legal_name}, {legal_id_kind} {legal_id}).",
            name=summary["first_name"],
            creditor=creditor["name"],
            legal_name=creditor["legal_name"],
            legal_id_kind=creditor["legal_id_kind"],
            legal_id=creditor["legal_id"],
        )
        list_debts(speaker, several, ask=False)
        return
    if debt is None:
        speaker.say(
            "Thank you, {name}. Your identity is confirmed, and you have no open debts with us.",
            name=summary["first_name"],
        )
        return
    creditor = debt["creditor"]
    speaker.say(
        "Thank you, {name}, your identity is confirmed. I'm the virtual assistant of "
        "{creditor} ({legal_name}, {legal_id_kind} {legal_id}), and this conversation is about "
        "a debt: {product}, reference {reference}.",
        name=summary["first_name"],
        creditor=creditor["name"],
        legal_name=creditor["legal_name"],
        legal_id_kind=creditor["legal_id_kind"],
        legal_id=creditor["legal_id"],
        product=debt["product"],
        reference=debt["reference"],
    )


def describe_balance(speaker: Speaker, debt: Debt) -> None:
    amount = money(speaker, debt["outstanding"], debt["currency"])
    if debt["status"] == "disputed":
        speaker.say(
            "Your balance is {amount}. The debt is under dispute, so collection is "
            "paused until our team reviews it.",
            amount=amount,
        )
    elif debt["active_plan"]:
        plan = debt["active_plan"]
        upcoming = next(
            (p for p in plan["schedule"] if Decimal(p["paid"]) < Decimal(p["amount"])), None
        )
        if upcoming:
            speaker.say(
                "You have a payment plan. The remaining balance is {amount}; the next "
                "installment is {installment}, due on {due_date}.",
                amount=amount,
                installment=money(speaker, upcoming["amount"], debt["currency"]),
                due_date=day(speaker, upcoming["due_date"]),
            )
        else:
            speaker.say("Your balance is {amount}.", amount=amount)
    elif debt["days_overdue"] > 0:
        speaker.say_plural(
            "Your balance is {amount} ({principal} principal, {fees} fees and {interest} "
            "interest). It was due {count} day ago.",
            "Your balance is {amount} ({principal} principal, {fees} fees and {interest} "
            "interest). It was due {count} days ago.",
            debt["days_overdue"],
            amount=amount,
            principal=money(speaker, debt["principal"], debt["currency"]),
            fees=money(speaker, debt["fees"], debt["currency"]),
            interest=money(speaker, debt["interest"], debt["currency"]),
        )
    else:
        speaker.say(
            "Your balance is {amount}, due on {due_date}.",
            amount=amount,
            due_date=day(speaker, debt["due_date"]),
        )
