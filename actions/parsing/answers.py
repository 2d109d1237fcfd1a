"""Whether a message answers the question a form asked, for forms to tell answers from asides.

A form that asked for an amount, a date or the end of a document should not take "how do I
know this is really you?" as the answer: these helpers say what the answer is, or None.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from actions.parsing.amounts import parse_amount
from actions.parsing.dates import parse_date
from actions.parsing.text import fold, is_question, tokenize, word_set, words

_SUFFIX_TOKEN = re.compile(r"[a-z0-9]+")
# Words that may come with a document suffix: "final 8909", "termina em 8909", "é 501Z".
_SUFFIX_FILLERS = word_set(
    "final finais termina terminam terminado terminada em com e es is it its s o a os as "
    "ultimos ultimas ultimos digitos digito numeros numero ultimi ultime cifre cifra "
    "ultimos digitos last digits digit numbers number ends ending end in with my meu minha "
    "mi mio mia del de do da di documento document doc cpf dni nie nif codice fiscale ssn "
    "id rg cc sao son sono are the los las el la il i gli le aqui here ecco ok sim si yes "
    "pronto vale",
)


def looks_like_amount(text: str) -> Decimal | None:
    """The amount the text answers with, or None when it is not an amount or is a question."""
    return None if is_question(text) else parse_amount(text)


def looks_like_date(
    text: str, *, today: date, month_first: bool = False, past: bool = False
) -> date | None:
    """The date the text answers with (see `parse_date`), or None, also for questions."""
    if is_question(text):
        return None
    return parse_date(text, today=today, month_first=month_first, past=past)


def looks_like_document_suffix(text: str, length_min: int = 3, length_max: int = 6) -> str | None:
    """The end of a document the text gives ("8909", "final 8909", "é 501Z"), upper case.

    A suffix is one short token of letters and digits, with at least one digit, said alone
    or with a few words such as "termina em"; a question or any other sentence is not one.
    """
    if is_question(text) or "?" in text:
        return None
    folded = fold(text)
    candidates = []
    for token in _SUFFIX_TOKEN.findall(folded):
        if token in _SUFFIX_FILLERS:
            continue
        if not any(ch.isdigit() for ch in token) or not length_min <= len(token) <= length_max:
            return None  # another word, or a number of the wrong size: not just a suffix
        candidates.append(token)
    if len(candidates) != 1 or len(words(tokenize(folded))) > 8:
        return None
    return candidates[0].upper()
