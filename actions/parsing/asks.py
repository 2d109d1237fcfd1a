"""What a debtor asks for in a plan negotiation, and which listed option they choose."""

from __future__ import annotations

from actions.parsing.amounts import (
    COUNT_WORDS,
    Message,
    parse_amount,
    parse_installments,
    plain_text,
    read_message,
)
from actions.parsing.numbers import atoms_of
from actions.parsing.text import fold, tokenize, word_set

BARE_INSTALLMENTS_MAX = 60  # a bare "12" is installments; a bare "150" is money
INSTALLMENTS_MAX = 360  # what the backend accepts as a number of installments

_ORDINALS = {
    # pt ("segunda", "quarta" and "quinta" are also weekdays; in a list of options, not)
    "primeiro": 1, "primeira": 1, "segundo": 2, "segunda": 2, "terceiro": 3, "terceira": 3,
    "quarto": 4, "quarta": 4, "quinto": 5, "quinta": 5,
    # es
    "primero": 1, "primer": 1, "primera": 1, "tercero": 3, "tercer": 3, "tercera": 3,
    "cuarto": 4, "cuarta": 4,
    # it
    "primo": 1, "prima": 1, "secondo": 2, "seconda": 2, "terzo": 3, "terza": 3,
    # en
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
}  # fmt: skip
_LAST_OPTION = frozenset({"ultimo", "ultima", "last", "latter"})
# Words that may surround a choice without changing it: articles, "option", "I'll take",
# "please", "yes". Anything else ("installments", "a month", "reais") makes it a new ask.
_CHOICE_FILLERS = word_set(
    # articles, pronouns and "the one"
    "a o os as la las el los il lo le l the one uno una um uma that this esa ese esta este "
    "essa esse questa questo quella quello eu yo io i me me mi my "
    # option, number
    "opcao opcoes opcion opciones opzione option options opt op opc alternativa "
    "alternative plano plan piano proposta propuesta proposal oferta offerta offer numero "
    "number num no n nr nro st nd rd th "
    # choosing
    "quero queria quiero quisiera voglio vorrei want would like d ll take choose pick prefer "
    "prefiro prefiero preferisco escolho elijo scelgo prendo fico com me quedo con go with "
    "vou vamos de da del di do for it its is e es s sera seria sarebbe pode puede puo ser "
    "can be will gonna "
    # politeness and agreement
    "please pls plz por favor porfa porfavor pfv pf per favore thx ty grazie obrigado "
    "obrigada gracias thanks "
    "thank you sim si yes ok okay vale beleza blz claro certo perfeito perfecto perfetto bom "
    "bueno bene good great sure va bem ta",
)


def interpret_plan_ask(text: str, entities: dict[str, object]) -> dict | None:
    """What a plan request asks for: a number of installments, a monthly amount or a lump sum.

    Returns `{"installments": 12}`, `{"monthly_amount": "150"}` or `{"lump_sum": "500"}`,
    the first two possibly with `"down_payment": "200"`; None when the text asks for none.
    The words decide before the NLU entities do: a bare "12" is twelve installments even
    when the model tags it as an amount, and "R$ 150" or "150 reais" is money. With both a
    count and an amount ("12x de 150") the count is what is asked.
    """
    ask = _ask(read_message(text))
    if ask is not None:
        return ask
    amount = parse_amount(str(entities.get("amount") or ""))
    if amount is not None:
        return {"monthly_amount": plain_text(amount)}
    count = parse_installments(str(entities.get("installments") or ""))
    return {"installments": count} if count else None


def _ask(message: Message) -> dict | None:
    counts = [c for c in message.counts() if c <= INSTALLMENTS_MAX]
    offered = [r for r in message.money() if not r.owed]
    down = next((r for r in offered if r.down), None)
    money = max((r for r in offered if not r.down), key=lambda r: r.score, default=None)
    extra = {"down_payment": plain_text(down.value)} if down else {}
    if counts and (counts[0] > 1 or money is None):
        return {"installments": counts[0], **extra}
    if money is None:
        return None
    if counts or message.lump_sum:  # "1x de 500", "posso pagar 500 à vista?"
        return {"lump_sum": plain_text(money.value)}
    if money.bare:
        return {"installments": int(money.value), **extra}
    return {"monthly_amount": plain_text(money.value), **extra}


def choose_listed_option(text: str, option_count: int) -> int | None:
    """Which of the numbered options the text chooses (from 1), or None if it chooses none.

    "1", "a 1", "opção 1", "nº 2", "2️⃣", "la prima", "o segundo", "the first one",
    "option 2", "el último" choose; "12 installments" or "150 a month" do not: those are new
    asks. A number beyond the options ("12" of 2) is not a choice either.
    """
    chosen: set[int] = set()
    ones = False
    for token in tokenize(fold(text)):
        word = token.text
        if token.is_number:
            if not word.isdigit():
                return None
            chosen.add(int(word))
        elif word in _ORDINALS:
            chosen.add(_ORDINALS[word])
        elif word in _LAST_OPTION:
            chosen.add(option_count)
        elif word in ("one", "uno", "una", "um", "uma"):
            ones = True  # "the first one": filler; "uno" alone: the first
        elif word in _CHOICE_FILLERS or not word[0].isalnum():
            continue
        elif word in COUNT_WORDS:
            return None
        else:
            atoms = atoms_of(word)
            if not atoms or len(atoms) != 1 or atoms[0][0] != "value":
                return None
            chosen.add(atoms[0][1])
    if not chosen and ones:
        chosen.add(1)
    if len(chosen) != 1:
        return None
    number = chosen.pop()
    return number if 1 <= number <= option_count else None
