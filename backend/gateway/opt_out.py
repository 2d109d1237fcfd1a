"""What the gateway answers when a whole message is an opt-out or opt-in keyword.

Pure functions from the keyword and the language to the confirmation; the gateway
(`service.py`) records the opt-out and the messages. Each confirmation says how to undo it.
"""

from __future__ import annotations

from backend.enums import Language
from backend.gateway.keywords import Keyword, quoted
from backend.gateway.rasa_client import BotMessage, Button
from locales import translate


def confirmation(
    keyword: Keyword, language: Language, *, bound_to_debtor: bool
) -> list[BotMessage]:
    """The reply to `keyword`; after a channel STOP, a debtor is offered every channel too."""
    lang = language.value
    start = quoted(Keyword.OPT_IN, language)
    if keyword is Keyword.OPT_IN:
        text = translate(
            lang,
            "Welcome back: you will hear from us on this channel again. To stop, write {stop} "
            "at any time.",
            stop=quoted(Keyword.OPT_OUT, language),
        )
        return [BotMessage(text=text)]
    if keyword is Keyword.OPT_OUT_EVERYWHERE and bound_to_debtor:
        text = translate(
            lang,
            "Done: you will get no more messages from us on any channel. To hear from us "
            "again on a channel, write {start} there.",
            start=start,
        )
        return [BotMessage(text=text)]
    replies = [
        BotMessage(
            text=translate(
                lang,
                "Done: you will get no more messages from us on this channel. To hear from us "
                "here again, write {start}.",
                start=start,
            )
        )
    ]
    if bound_to_debtor:
        everywhere = quoted(Keyword.OPT_OUT_EVERYWHERE, language)
        button = Button(title=translate(lang, "Stop on every channel"), payload=everywhere)
        replies.append(
            BotMessage(
                text=translate(
                    lang,
                    "To stop messages on every channel where we reach you, press the button "
                    "or write {everywhere}.",
                    everywhere=everywhere,
                ),
                buttons=[button],
            )
        )
    return replies
