"""Replies to a reminder, on the real action server and backend (actions/reminders.py).

The gateway sends `/EXTERNAL_reminder{"debt_reference", "reminder_kind"}` before the person's
reply; Rasa runs `action_reminder_context`, and the conversation continues with that debt.
Same harness as tests/test_actions.py: the action server called on its webhook as Rasa calls it.
"""

from __future__ import annotations

from sqlalchemy import select

from backend.plans.models import PaymentPlan
from tests import factories
from tests.test_actions import Conversation, db, stack  # noqa: F401 - the fixtures

REMINDER = "action_reminder_context"
REPLY = "action_reply_to_reminder"


def remind(chat: Conversation, reference: str, kind: str = "reminder") -> list[str]:
    """The gateway's event before the person's reply, as Rasa passes it to the action."""
    return chat.run(
        REMINDER,
        text=f'/EXTERNAL_reminder{{"debt_reference": "{reference}", "reminder_kind": "{kind}"}}',
        intent="EXTERNAL_reminder",
        entities=[
            {"entity": "debt_reference", "value": reference},
            {"entity": "reminder_kind", "value": kind},
        ],
    )


def payloads(chat: Conversation) -> list[str]:
    return [button["payload"] for button in chat.buttons]


def test_a_reminder_sets_the_context_and_says_nothing(stack, db):  # noqa: F811
    debtor, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")

    said = remind(chat, debt.reference, "installment_late")

    assert said == [] and chat.buttons == []
    assert chat.slots["reminded_debt"] == debt.reference
    assert chat.slots["reminder_kind"] == "installment_late"
    assert chat.slots["debt_reference"] == debt.reference
    assert chat.slots["verified"] is False


def test_a_plan_after_a_reminder_is_for_the_reminded_debt_of_several(stack, db):  # noqa: F811
    debtor, first = factories.debtor_with_debt(db)
    reminded = factories.debt(db, debtor, product="Empréstimo pessoal", outstanding_minor=120000)
    db.commit()
    chat = Conversation(stack["actions"], language="en")
    remind(chat, reminded.reference)

    introduced = chat.verify(debtor)

    # Both debts are listed, then the one the reminder was about is named: nobody is asked
    # which debt this is.
    assert first.reference in introduced[1] and reminded.reference in introduced[1]
    assert (
        f"Let's look at Empréstimo pessoal ({reminded.reference}), the debt in our last message."
        in introduced[2]
    )
    assert chat.slots["debt_reference"] == reminded.reference

    chat.active_loop = "payment_plan_form"
    chat.run(
        "validate_payment_plan_form",
        text="6 installments",
        entities=[{"entity": "installments", "value": "6"}],
        set_slots={"plan_ask": "6 installments"},
    )
    assert chat.slots["requested_slot"] != "debt_reference"
    chat.active_loop = None
    done = chat.run(
        "action_create_plan", text="yes", intent="affirm", set_slots={"plan_confirmed": True}
    )

    assert done[0].startswith("Done! Your plan is set up")
    plans = db.scalars(
        select(PaymentPlan).where(PaymentPlan.debt_id.in_([first.id, reminded.id]))
    ).all()
    assert [(plan.debt_id, plan.installment_count) for plan in plans] == [(reminded.id, 6)]


def test_a_reminder_for_someone_elses_debt_is_as_if_no_debt_was_named(stack, db):  # noqa: F811
    _, strangers = factories.debtor_with_debt(db)
    debtor, first = factories.debtor_with_debt(db)
    second = factories.debt(db, debtor, product="Empréstimo pessoal", outstanding_minor=120000)
    db.commit()
    chat = Conversation(stack["actions"], language="en")
    remind(chat, strangers.reference)

    introduced = chat.verify(debtor)

    assert chat.slots["verified"] is True and chat.slots["debt_reference"] is None
    assert not any(strangers.reference in text for text in introduced)
    assert not any("the debt in our last message" in text for text in introduced)
    # Asked about "the" debt, the person chooses among their own, as without a reminder.
    answer = chat.run("action_answer_due_date", text="when is it due?", intent="ask_due_date")
    assert "Which one is this about?" in answer[0]
    assert first.reference in answer[0] and second.reference in answer[0]
    assert strangers.reference not in answer[0]


def test_a_reminder_for_someone_elses_debt_leaves_a_single_debt_as_it_is(stack, db):  # noqa: F811
    _, strangers = factories.debtor_with_debt(db)
    debtor, own = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")
    remind(chat, strangers.reference)

    introduced = chat.verify(debtor)

    assert chat.slots["debt_reference"] == own.reference
    assert not any(strangers.reference in text for text in introduced)


def test_a_reminder_ends_what_a_waiting_form_had_collected(stack, db):  # noqa: F811
    debtor, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")
    chat.slots.update(
        {"document_suffix": "8909", "plan_ask": "6", "plan_options": [{}], "plan_choice": "0"}
    )

    remind(chat, debt.reference)

    for slot in ("document_suffix", "plan_ask", "plan_options", "plan_choice"):
        assert chat.slots[slot] is None, slot


def test_a_bare_yes_after_a_reminder_offers_to_pay_a_plan_or_a_person(stack, db):  # noqa: F811
    _, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")
    remind(chat, debt.reference)

    said = chat.run(REPLY, text="yes", intent="affirm")

    assert said == ["Of course. How would you like to continue?"]
    assert payloads(chat) == ["/request_payment_link", "/request_payment_plan", "/request_human"]
    assert debt.reference not in said[0]  # nothing about the debt before verification


def test_not_now_after_a_reminder_is_answered_kindly_with_the_way_back(stack, db):  # noqa: F811
    _, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")
    remind(chat, debt.reference, "promise_broken")

    said = chat.run(REPLY, text="not now", intent="deny")

    assert len(said) == 1 and said[0].startswith("No problem. Whenever you're ready")
    assert "reply STOP" in said[0]


def test_ok_thanks_after_a_due_reminder_is_only_acknowledged(stack, db):  # noqa: F811
    _, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")
    remind(chat, debt.reference, "promise_due")

    said = chat.run(REPLY, text="ok, thanks", intent="thank")

    assert said == ["Thank you! If anything changes before then, just write to me here."]
    assert chat.buttons == []


def test_cannot_pay_after_an_installment_reminder_offers_a_person(stack, db):  # noqa: F811
    _, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="en")
    remind(chat, debt.reference, "installment_due")

    said = chat.run(REPLY, text="no", intent="deny")

    assert "a member of our team can look at it with you" in said[0]
    assert payloads(chat) == ["/request_human"]


def test_thanks_after_a_payment_thanks_is_welcomed(stack, db):  # noqa: F811
    _, debt = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language="pt_BR")
    remind(chat, debt.reference, "payment_thanks")

    said = chat.run(REPLY, text="obrigada", intent="thank")

    assert len(said) == 1 and chat.buttons == []
