"""The opt-out and opt-in keywords the gateway honours before Rasa sees a message.

A keyword counts only as the whole message: case, accents, surrounding spaces and punctuation
are ignored ("Stop!", " pare. ", "BAJA" all match), while "stop calling me at night" is a
sentence for the assistant. Every keyword is listed here, per language, as data; the README's
Security section repeats these lists. The first keyword of each list is the one replies
quote ("write VOLTAR to hear from us again").

Opting back in only takes effect for a contact that opted out: otherwise START (Telegram's
/start too) is an ordinary greeting for the assistant.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

from backend.enums import Language


class Keyword(str, enum.Enum):
    OPT_OUT = "opt_out"  # stop messages on this channel
    OPT_OUT_EVERYWHERE = "opt_out_everywhere"  # stop on every channel of the debtor
    OPT_IN = "opt_in"  # hear from us again on this channel


# The order of the languages decides a keyword shared by several ("STOP", "PARAR") when the
# conversation's language is not one of them.
KEYWORDS: dict[Keyword, dict[Language, tuple[str, ...]]] = {
    Keyword.OPT_OUT: {
        Language.EN: ("STOP", "UNSUBSCRIBE", "END", "QUIT", "CANCEL"),
        Language.PT_BR: ("PARAR", "PARE", "SAIR", "CANCELAR", "DESCADASTRAR", "STOP"),
        Language.ES: ("BAJA", "PARAR", "ALTO", "CANCELAR", "STOP"),
        Language.IT: ("STOP", "BASTA", "CANCELLA"),
    },
    Keyword.OPT_OUT_EVERYWHERE: {
        Language.EN: ("STOP ALL", "STOPALL"),
        Language.PT_BR: ("PARAR TUDO", "SAIR DE TUDO"),
        Language.ES: ("BAJA TOTAL", "PARAR TODO"),
        Language.IT: ("STOP TUTTO", "BASTA TUTTO"),
    },
    Keyword.OPT_IN: {
        Language.EN: ("START", "UNSTOP", "RESUME"),
        Language.PT_BR: ("VOLTAR", "RETOMAR", "START"),
        Language.ES: ("ALTA", "REANUDAR", "START"),
        Language.IT: ("RIPRENDI", "START"),
    },
}

_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_BLANKS = re.compile(r"\s+")


@dataclass(frozen=True)
class KeywordMatch:
    keyword: Keyword
    # The languages whose list holds the word, in the order of KEYWORDS.
    languages: tuple[Language, ...]

    def language(self, *preferred: Language | None) -> Language:
        """The first preferred language the word belongs to, else its first language."""
        for language in preferred:
            if language in self.languages:
                return language
        return self.languages[0]


def normalize(text: str) -> str:
    """Lower case, no accents, no surrounding blanks or punctuation, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _BLANKS.sub(" ", _EDGES.sub("", bare.casefold()))


def _index() -> dict[str, KeywordMatch]:
    index: dict[str, KeywordMatch] = {}
    for keyword, by_language in KEYWORDS.items():
        for language, words in by_language.items():
            for word in words:
                key = normalize(word)
                known = index.get(key)
                if known is not None and known.keyword is not keyword:
                    raise ValueError(f"{word!r} is both {known.keyword} and {keyword}")
                languages = known.languages if known else ()
                index[key] = KeywordMatch(keyword, (*languages, language))
    return index


_INDEX = _index()


def match(text: str) -> KeywordMatch | None:
    """The keyword the whole message is, or None for anything else."""
    return _INDEX.get(normalize(text))


def quoted(keyword: Keyword, language: Language) -> str:
    """The word replies in `language` suggest for `keyword`."""
    return KEYWORDS[keyword][language][0]
