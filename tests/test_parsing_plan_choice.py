"""Choosing one of the listed plan options by typing it, through the real action server."""

import pytest

from tests import factories, test_actions
from tests.test_actions import Conversation

# The action server and backend of tests/test_actions.py, started once for this module.
stack = test_actions.stack
db = test_actions.db


def listed_options(stack, db, language="en"):
    debtor, _ = factories.debtor_with_debt(db)
    chat = Conversation(stack["actions"], language=language)
    chat.verify(debtor)
    chat.active_loop = "payment_plan_form"
    chat.run(
        "validate_payment_plan_form",
        text="24 installments",
        entities=[{"entity": "installments", "value": "24"}],
        set_slots={"plan_ask": "24 installments"},
    )
    chat.run("action_ask_plan_choice", text="24 installments")
    return chat, chat.slots["plan_options"]


def choose(chat, text):
    return chat.run("validate_payment_plan_form", text=text, set_slots={"plan_choice": text})


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "1"), ("en", "the first one"), ("pt_BR", "opção 1"), ("it", "la prima"),
     ("es", "1️⃣")],
)  # fmt: skip
def test_typing_the_first_option_chooses_it_not_one_installment(stack, db, language, text):
    chat, options = listed_options(stack, db, language)

    said = choose(chat, text)

    assert said == []  # no new quote, no "didn't get that"
    assert chat.slots["plan_choice"] == "0"
    assert chat.slots["plan_options"] == options


def test_the_last_listed_option_can_be_chosen_by_number(stack, db):
    chat, options = listed_options(stack, db)

    choose(chat, str(len(options)))

    assert chat.slots["plan_choice"] == str(len(options) - 1)


def test_a_new_ask_instead_of_a_choice_is_quoted(stack, db):
    chat, options = listed_options(stack, db)

    choose(chat, "6 installments")

    chosen = chat.slots["plan_options"][int(chat.slots["plan_choice"] or 0)]
    assert chosen["proposal"]["installment_count"] == 6
