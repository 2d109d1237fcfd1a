"""The NLU training data covers every intent in every language, as debtors actually write.

Reads the YAML only (no Rasa import), so it runs in the app environment in a second.
Accuracy itself is measured by `./run evaluate` (see README, "Language understanding").
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest
import yaml

BOT = Path(__file__).resolve().parent.parent / "bot"
LANGUAGES = ("en", "es", "it", "pt_BR")
MIN_EXAMPLES = 25
WORRY_INTENTS = ("ask_legal_action", "ask_credit_record", "ask_contact_legality", "ask_is_scam")
# Intents a person sends as a question or request, which often comes after a greeting.
SUBSTANTIVE_INTENTS = (
    "ask_balance",
    "ask_due_date",
    "ask_terms",
    "request_payment_plan",
    "promise_to_pay",
    "already_paid",
    "dispute_debt",
    "hardship",
    "request_human",
    "ask_education",
    "opt_out",
    "change_language",
    "request_payment_link",
    "bot_challenge",
    *WORRY_INTENTS,
)
GREETING = {
    "en": r"(hi|hello|hey|good (morning|afternoon|evening))\b",
    "es": r"(hola|buenas|buenos d[ií]as)\b",
    "it": r"(ciao|salve|buongiorno|buonasera)\b",
    "pt_BR": r"(oi|ol[aá]|bom dia|boa (tarde|noite))\b",
}
ANNOTATION = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def normalized(example: str) -> str:
    """The text Rasa trains on, compared without case, edge punctuation or extra spaces."""
    text = ANNOTATION.sub(r"\1", example).lower()
    return " ".join(text.split()).strip("¿¡?!. ")


@cache
def examples(language: str) -> dict[str, list[str]]:
    """Intent -> examples (annotations kept) of one language file."""
    data = yaml.safe_load((BOT / "data" / "nlu" / f"{language}.yml").read_text())
    by_intent: dict[str, list[str]] = defaultdict(list)
    for item in data["nlu"]:
        if "intent" in item:
            by_intent[item["intent"]] += [
                line[2:].strip() for line in item["examples"].splitlines() if line.startswith("- ")
            ]
    return dict(by_intent)


@cache
def domain_intents() -> tuple[str, ...]:
    # Only the `intents:` block: the rest of the domain is another concern's (and another
    # test's: tests/test_rasa_project.py validates the whole domain with Rasa).
    block = re.search(r"^intents:\n(?:[ #].*\n|\n)*", (BOT / "domain.yml").read_text(), re.M)
    assert block, "bot/domain.yml has no intents list"
    return tuple(yaml.safe_load(block.group(0))["intents"])


def intent_of(language: str, text: str) -> str | None:
    wanted = normalized(text)
    for intent, texts in examples(language).items():
        if any(normalized(example) == wanted for example in texts):
            return intent
    return None


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_domain_intent_has_enough_examples(language):
    # EXTERNAL_ intents are events the gateway sends as `/EXTERNAL_...{...}`, never typed.
    typed = [intent for intent in domain_intents() if not intent.startswith("EXTERNAL_")]
    counts = {intent: len(examples(language).get(intent, [])) for intent in typed}
    too_few = {intent: count for intent, count in counts.items() if count < MIN_EXAMPLES}
    assert not too_few, f"{language}: fewer than {MIN_EXAMPLES} examples: {too_few}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_intent_outside_the_domain(language):
    assert set(examples(language)) <= set(domain_intents())


def test_worry_intents_are_in_the_domain():
    assert set(WORRY_INTENTS) <= set(domain_intents())


def test_no_example_belongs_to_two_intents():
    # Across all languages: one model learns from all four files at once.
    owners: dict[str, set[str]] = defaultdict(set)
    for language in LANGUAGES:
        for intent, texts in examples(language).items():
            for text in texts:
                owners[normalized(text)].add(intent)
    clashes = {text: sorted(intents) for text, intents in owners.items() if len(intents) > 1}
    assert not clashes, clashes


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_example_repeated_within_an_intent(language):
    for intent, texts in examples(language).items():
        seen = [normalized(text) for text in texts]
        repeated = {text for text in seen if seen.count(text) > 1}
        assert not repeated, f"{language} {intent}: {sorted(repeated)}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_greeting_and_question_in_one_message_carry_the_question_intent(language):
    greeting = re.compile(GREETING[language] + r"[^,.!?]*[,.!?]\s*\S", re.IGNORECASE)
    missing = [
        intent
        for intent in SUBSTANTIVE_INTENTS
        if not any(greeting.match(normalized(text)) for text in examples(language)[intent])
    ]
    assert not missing, f"{language}: no greeting + request example for {missing}"


@pytest.mark.parametrize(
    ("language", "text", "intent"),
    [
        # A greeting first, then the real question.
        (
            "pt_BR",
            "oi boa noite, recebi uma mensagem de vcs sobre um emprestimo, quanto é?",
            "ask_balance",
        ),
        (
            "en",
            "hello, good evening, I got a message from you about a loan, how much is it?",
            "ask_balance",
        ),
        (
            "es",
            "hola buenas noches, recibí un mensaje vuestro sobre un préstamo, ¿cuánto es?",
            "ask_balance",
        ),
        (
            "it",
            "ciao buonasera, ho ricevuto un vostro messaggio su un prestito, quant'è?",
            "ask_balance",
        ),
        # Modal + amount + day: a promise, not a plan request.
        ("en", "I could pay 150 on Monday", "promise_to_pay"),
        ("en", "i can do 200 next friday", "promise_to_pay"),
        ("en", "I'll be able to pay 80 on the 15th", "promise_to_pay"),
        ("pt_BR", "consigo pagar 150 na segunda", "promise_to_pay"),
        ("es", "puedo pagar 150 el lunes", "promise_to_pay"),
        ("it", "posso pagare 150 lunedì", "promise_to_pay"),
        # Per month, in instalments or in one go: a plan request.
        ("pt_BR", "quero parcelar em 12x", "request_payment_plan"),
        ("en", "can I pay 100 a month", "request_payment_plan"),
        ("pt_BR", "posso pagar 500 reais à vista?", "request_payment_plan"),
        # Worried debtors' first questions.
        ("en", "will you take me to court?", "ask_legal_action"),
        ("pt_BR", "vão me processar?", "ask_legal_action"),
        ("es", "me van a demandar?", "ask_legal_action"),
        ("it", "mi farete causa?", "ask_legal_action"),
        ("en", "will my name go to the credit bureau?", "ask_credit_record"),
        ("pt_BR", "meu nome vai pro serasa?", "ask_credit_record"),
        ("pt_BR", "meu nome vai pro spc?", "ask_credit_record"),
        ("es", "me van a meter en ASNEF?", "ask_credit_record"),
        ("it", "finirò in CRIF?", "ask_credit_record"),
        ("it", "finirò nella centrale rischi?", "ask_credit_record"),
        ("en", "is it legal for you to message me?", "ask_contact_legality"),
        ("pt_BR", "como vcs conseguiram meu numero?", "ask_contact_legality"),
        ("es", "es legal que me escriban?", "ask_contact_legality"),
        ("it", "è legale che mi scriviate?", "ask_contact_legality"),
        ("en", "is this a scam?", "ask_is_scam"),
        ("pt_BR", "isso é golpe?", "ask_is_scam"),
        ("es", "esto es una estafa?", "ask_is_scam"),
        ("it", "è una truffa?", "ask_is_scam"),
    ],
)
def test_key_example_is_labelled(language, text, intent):
    assert intent_of(language, text) == intent
