"""The lexical half of the hybrid search: BM25 (Okapi) over word stems, one index per language.

Words are folded the way debtors type them (no case, no accents: "credito" finds "crédito") and
reduced to their Snowball stems ("pagar", "pago", "pagando" → "pag"), so an informal question
still meets the guide's words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import snowballstemmer
from rank_bm25 import BM25Okapi

STEMMER_BY_LANGUAGE = {"pt_BR": "portuguese", "es": "spanish", "it": "italian", "en": "english"}
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=len(STEMMER_BY_LANGUAGE))
def _stemmer(language: str):
    return snowballstemmer.stemmer(STEMMER_BY_LANGUAGE.get(language, "english"))


def tokens(text: str, language: str) -> list[str]:
    """The stems of a text's words; one-letter words say nothing about a topic."""
    words = [w for w in _WORD.findall(fold(text)) if len(w) > 1 or w.isdigit()]
    return _stemmer(language).stemWords(words)


class LexicalIndex:
    """BM25 over a fixed list of texts of one language; scores every text for a question."""

    def __init__(self, texts: Sequence[str], language: str) -> None:
        self.language = language
        self.size = len(texts)
        self._bm25 = BM25Okapi([tokens(t, language) or ["∅"] for t in texts]) if texts else None

    def scores(self, question: str) -> list[float]:
        if self._bm25 is None:
            return []
        asked = tokens(question, self.language)
        if not asked:
            return [0.0] * self.size
        return [float(s) for s in self._bm25.get_scores(asked)]
