"""Keeping verification answers out of the interaction log.

What a person types right after the bot asked for their document's last characters or their
birth date is logged as `MASK`, never as typed; Rasa still receives it, to verify.

The signal is the bot's own question, read when the gateway logs the bot's turn: a reply
whose text is one of the verification questions (`QUESTIONS`, the action server's message
ids, matched in each language's catalog with placeholders as wildcards) is logged with
`data["asks"] = "verification"`, and the next inbound message of that contact is masked when
the turn before it carries that mark. Every message of that turn is masked, not only those
that look like an answer: the action server reads answers in many shapes (digits, a whole
document with dots, "14 de março de 1988", number words), and a question masked by mistake
costs one line of the log's readability, while an answer kept by mistake stays in an
append-only log. Button payloads the bot offered and opt-out keywords are not answers and
are logged as they are.
"""

from __future__ import annotations

import re
from functools import lru_cache

from locales import LANGUAGES, translate

MASK = "••••"
ASKS = "asks"
VERIFICATION = "verification"
# The action server's verification questions (actions/identity.py), as catalog message ids.
# tests/test_personal_data.py checks each is still in locales/messages.pot.
QUESTIONS = (
    "Before we talk about any account, I need to confirm who you are. Please type the last 4 "
    "characters of your document number (CPF, DNI, codice fiscale or SSN).",
    "Thank you. Now, what is your date of birth? For example: {example}",
    "I need exactly the last 4 characters of your document, like 1234.",
    "I couldn't read that date. Please write it like {example}.",
    # The e-mailed one-time code (a second factor is a secret too).
    "Thank you. To be sure it's you, I've sent a 6-digit code to {destination}. Please type "
    "it here.",
    "For your security, verification with these details is paused. If they are right, "
    "we've just e-mailed you a 6-digit code: please type it here.",
    "Please type the 6-digit code we sent you by e-mail.",
    "Please type the 6 digits of the code we sent you, like 123456.",
)
_PLACEHOLDER = re.compile(r"\{\w+\}")


def asks_for_verification(text: str | None) -> bool:
    """Whether a bot message is one of the verification questions, in any language."""
    return bool(text) and any(pattern.search(text) for pattern in _patterns())


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], ...]:
    templates = {translate(language, question) for language in LANGUAGES for question in QUESTIONS}
    return tuple(
        re.compile(".+?".join(re.escape(part) for part in _PLACEHOLDER.split(template)), re.S)
        for template in sorted(templates)
    )
