"""Folding and tokenising what debtors type, shared by the number, date and choice readers."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Marks, enclosing marks ("2️⃣" is "2" + U+FE0F + U+20E3) and format characters (zero-width
# joiners) carry no meaning for us; dropping them turns keycap emoji into plain digits.
_DROPPED_CATEGORIES = {"Mn", "Me", "Cf"}
_VARIATION_SELECTORS = {"\ufe0e", "\ufe0f"}

_TOKEN = re.compile(r"r\s?\$|us\$|\d+(?:[.,]\d+)*|[a-z]+|[^\sa-z\d]")


def word_set(*texts: str) -> frozenset[str]:
    """A set of words written as space-separated strings, which reads better in long lists."""
    return frozenset(" ".join(texts).split())


# Words that open a question rather than an answer, in the four languages. ("que" is left
# out: "que tal 300?" offers.)
QUESTION_WORDS = word_set(
    "how what why who where when which whats "
    "como oque porque pq quem onde quando qual quais quanto quanta "
    "quien donde cuando cual cuanto cuanta "
    "come cosa perche chi dove quale quanto quanti",
)


@dataclass(frozen=True)
class Token:
    """One word, number or sign of the folded text, with where it is in that text."""

    text: str
    start: int
    end: int

    @property
    def is_number(self) -> bool:
        return self.text[0].isdigit()


def fold(text: str) -> str:
    """Lower case without accents or emoji modifiers: "Março" and "marco" read the same."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(
        ch
        for ch in decomposed
        if unicodedata.category(ch) not in _DROPPED_CATEGORIES and ch not in _VARIATION_SELECTORS
    )


def tokenize(folded: str) -> list[Token]:
    """Words, numbers (with their separators: "1.250,50") and single signs of folded text."""
    return [
        Token(match.group().replace(" ", ""), match.start(), match.end())
        for match in _TOKEN.finditer(folded)
    ]


def words(tokens: Iterable[Token]) -> list[str]:
    """The texts of the tokens that are words or numbers, signs left out."""
    return [token.text for token in tokens if token.text[0].isalnum()]


def phrases(*texts: str) -> tuple[tuple[str, ...], ...]:
    """Phrases written as plain strings ("de uma vez"), as tuples of words."""
    return tuple(tuple(text.split()) for text in texts)


def is_question(text: str) -> bool:
    """A question about something, not an answer: "how do I know this is really you?".

    "posso pagar 300?" asks too, but it answers with an offer: only text that opens with a
    question word and ends with a question mark counts.
    """
    folded = fold(text).strip()
    if not folded.rstrip(" !.").endswith("?"):
        return False
    first = words(tokenize(folded))[:1]
    return bool(first) and first[0] in QUESTION_WORDS
