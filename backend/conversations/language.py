"""Which of the supported languages a message is written in, when that can be told.

Short replies ("12", "sim", "ok", "R$ 150") say nothing reliable about the language, so they
yield None and the conversation keeps the language it had.
"""

from __future__ import annotations

import re
from functools import cache

from lingua import Language as LinguaLanguage
from lingua import LanguageDetector, LanguageDetectorBuilder

from backend.enums import Language

MIN_CONFIDENCE = 0.6
MIN_MARGIN = 0.25  # over the runner-up: "quanto eu devo?" is 0.44 Italian, 0.40 Portuguese
MIN_WORDS = 2

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


def detect_language(text: str) -> Language | None:
    """The language of `text` if the detector is confident, else None."""
    if len(_WORD.findall(text)) < MIN_WORDS:
        return None
    ranked = _detector().compute_language_confidence_values(text)
    if not ranked:
        return None
    best = ranked[0]
    runner_up = ranked[1].value if len(ranked) > 1 else 0.0
    if best.value < MIN_CONFIDENCE or best.value - runner_up < MIN_MARGIN:
        return None
    return _LANGUAGES[best.language]
