"""Reading what debtors type in pt-BR, es, it and en: amounts, counts, dates and choices.

Plain functions with no Rasa dependency and nothing beyond the standard library, so the
action server (Rasa environment) and the tests (application environment) import the same
code. Everything is read accent- and case-insensitively, word by word, never by substring:
"really" is not "real" (reais) and the "due" of "what is due" is not Italian for two.
"""

from actions.parsing.amounts import parse_amount, parse_installments
from actions.parsing.answers import looks_like_amount, looks_like_date, looks_like_document_suffix
from actions.parsing.asks import choose_listed_option, interpret_plan_ask
from actions.parsing.dates import month_first_for, parse_date
from actions.parsing.text import fold

__all__ = [
    "choose_listed_option",
    "fold",
    "interpret_plan_ask",
    "looks_like_amount",
    "looks_like_date",
    "looks_like_document_suffix",
    "month_first_for",
    "parse_amount",
    "parse_date",
    "parse_installments",
]
