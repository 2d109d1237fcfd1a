"""The one place that decides a conversation's language, and detects a message's.

`conversation_language` is what every channel answers in: what the conversation was last
detected in (or what the person chose), else the debtor's preferred language, else the
channel's hint (the browser's or Telegram's language). `detect_language` says which of the
supported languages a message is written in, when that can be told.

Short replies ("12", "sim", "ok", "R$ 150") say nothing reliable about the language, so they
yield None and the conversation keeps the language it had. What is already known (the language
the conversation is in, the debtor's, or the channel's hint) weighs more than a guess: a short
message only moves a conversation between two close languages (Portuguese, Spanish, Italian)
with clear evidence, since "quero renegociar" can read as Spanish to a detector.
"""

from __future__ import annotations

import re
from functools import cache

from lingua import Language as LinguaLanguage
from lingua import LanguageDetector, LanguageDetectorBuilder

from backend.contacts.models import ChannelContact
from backend.enums import Language

MIN_CONFIDENCE = 0.6
MIN_MARGIN = 0.25  # over the runner-up: "quanto eu devo?" is 0.44 Italian, 0.40 Portuguese
MIN_WORDS = 2
# Leaving the language the conversation is in takes more: a message at least this long when
# both languages are close ones, and little left for the known language.
MIN_WORDS_TO_SWITCH_CLOSE = 4
MAX_CONFIDENCE_OF_KNOWN = 0.2
CLOSE_LANGUAGES = frozenset({Language.PT_BR, Language.ES, Language.IT})

_LANGUAGES = {
    LinguaLanguage.PORTUGUESE: Language.PT_BR,
    LinguaLanguage.SPANISH: Language.ES,
    LinguaLanguage.ITALIAN: Language.IT,
    LinguaLanguage.ENGLISH: Language.EN,
}
_WORD = re.compile(r"[^\W\d_]+")  # a run of letters in any script


@cache
def _detector() -> LanguageDetector:
    # Built on first use: loading the language models takes a moment and some memory.
    return LanguageDetectorBuilder.from_languages(*_LANGUAGES).build()


def conversation_language(contact: ChannelContact, hint: Language | None = None) -> Language | None:
    """The language to answer this contact in; None when nothing is known (the caller's default).

    The stored language comes before the hint: the hint comes with every message, while the
    stored language is what this conversation was last detected in (or what the person chose).
    """
    if contact.language is not None:
        return contact.language
    if contact.debtor is not None and contact.debtor.preferred_language is not None:
        return contact.debtor.preferred_language
    return hint


def detect_language(text: str, *, known: Language | None = None) -> Language | None:
    """The language of `text` if the detector is confident enough, else None.

    `known` is what the conversation is in so far (or the channel's hint): a detection that
    would leave it must be clear, see the module's docstring.
    """
    words = len(_WORD.findall(text))
    if words < MIN_WORDS:
        return None
    ranked = _detector().compute_language_confidence_values(text)
    if not ranked:
        return None
    best = ranked[0]
    runner_up = ranked[1].value if len(ranked) > 1 else 0.0
    if best.value < MIN_CONFIDENCE or best.value - runner_up < MIN_MARGIN:
        return None
    detected = _LANGUAGES[best.language]
    if known is None or detected == known:
        return detected
    if (
        detected in CLOSE_LANGUAGES
        and known in CLOSE_LANGUAGES
        and words < MIN_WORDS_TO_SWITCH_CLOSE
    ):
        return None
    confidence_of_known = next((c.value for c in ranked if _LANGUAGES[c.language] == known), 0.0)
    return detected if confidence_of_known <= MAX_CONFIDENCE_OF_KNOWN else None


def accepted_language(header: str | None) -> Language:
    """The supported language a browser's Accept-Language prefers most; English otherwise."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        weighted.append((-quality, position, tag.strip().replace("-", "_")))
    for _weight, _position, tag in sorted(weighted):
        base = tag.split("_")[0].lower()
        if base == "pt":
            return Language.PT_BR
        if base in {"es", "it", "en"}:
            return Language(base)
    return Language.EN
