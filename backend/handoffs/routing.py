"""The gateway's side of handoffs: messages to a conversation a person owns never reach Rasa.

`handle_inbound` (backend/gateway/inbound.py) has logged the message; `route_to_staff` then
decides whether the bot answers it. With an open handoff it does not: the debtor is told once
per handoff that a person will answer here and roughly when (`notice`), and later messages get
no automatic answer. A message with an escalation cue (`cues.py`) opens a handoff first.
`tell_after_bot_turn` covers handoffs the bot's own turn opened (a request for a person, a
dispute, two fallbacks in a row): the same notice follows the bot's answer, once.

Runs in the gateway's worker thread and commits, like the rest of the inbound path.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.contacts.models import ChannelContact
from backend.enums import Actor, Language
from backend.gateway.rasa_client import BotMessage
from backend.handoffs import cues, hours
from backend.handoffs import service as handoffs
from backend.handoffs.models import Handoff
from backend.interactions.models import Direction
from backend.interactions.service import record
from locales import FORMAT_LOCALES, N_, normalize_language, translate

# The gateway's event for a message sent to the contact (backend/gateway/inbound.py SENT).
_SENT = "message.sent"
WITHIN_HOURS = N_(
    "A member of our team will answer you here. They usually reply within {minutes} minutes."
)
OUTSIDE_HOURS = N_(
    "A member of our team will answer you here. Our team is away now: we're back on {day} "
    "at {time}."
)


def route_to_staff(
    *,
    db_session: Session,
    contact: ChannelContact,
    text: str,
    language: Language | None,
    settings: Settings,
    now: datetime,
) -> list[BotMessage] | None:
    """What to answer instead of the bot, or None when the bot answers (no open handoff)."""
    handoff = handoffs.owner_of(db_session, contact)
    if handoff is None:
        reason = cues.escalation_reason(text)
        if reason is None:
            return None
        handoff = handoffs.escalate(db_session, contact=contact, reason=reason, now=now)
    told = _tell_once(db_session, contact, handoff, language, settings, now)
    db_session.commit()
    return told


def tell_after_bot_turn(
    *,
    db_session: Session,
    contact: ChannelContact,
    language: Language | None,
    settings: Settings,
    now: datetime,
) -> list[BotMessage]:
    """The notice, when the bot's turn just handed the conversation to staff; else nothing."""
    handoff = handoffs.owner_of(db_session, contact)
    if handoff is None or handoff.debtor_told_at is not None:
        return []
    told = _tell_once(db_session, contact, handoff, language, settings, now)
    db_session.commit()
    return told


def notice(
    *, language: Language | None, settings: Settings, now: datetime, timezone: str | None = None
) -> str:
    """A person will answer, and when: the usual wait, or when the team is back.

    Outside business hours the day and time are in the debtor's time zone when known.
    """
    lang = language.value if language else None
    if hours.is_open(settings.staff_hours, settings.staff_hours_timezone, now):
        return translate(lang, WITHIN_HOURS, minutes=settings.staff_expected_response_minutes)
    back = hours.next_opening(settings.staff_hours, settings.staff_hours_timezone, now)
    if timezone:
        back = back.astimezone(ZoneInfo(timezone))
    locale = FORMAT_LOCALES[normalize_language(lang)]
    return translate(
        lang,
        OUTSIDE_HOURS,
        day=format_date(back.date(), format="EEEE", locale=locale),
        time=format_time(back.time(), format="short", locale=locale),
    )


def _tell_once(
    db_session: Session,
    contact: ChannelContact,
    handoff: Handoff,
    language: Language | None,
    settings: Settings,
    now: datetime,
) -> list[BotMessage]:
    if not handoffs.mark_debtor_told(db_session, handoff=handoff, now=now):
        return []
    timezone = contact.debtor.timezone if contact.debtor is not None else None
    message = BotMessage(
        text=notice(language=language, settings=settings, now=now, timezone=timezone)
    )
    # Logged as the assistant's answer: the web chat shows it as the reply to what was posted.
    record(
        db_session=db_session,
        event=_SENT,
        actor=Actor.BOT,
        direction=Direction.OUTBOUND,
        contact=contact,
        text=message.text,
        data={"buttons": [], "handoff_id": handoff.id, "reason": handoff.reason},
    )
    return [message]
