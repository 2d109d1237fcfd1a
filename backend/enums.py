"""Enumerations shared across domain concepts, stored as their string values."""

from __future__ import annotations

import enum

import sqlalchemy as sa


class Channel(str, enum.Enum):
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    WEBCHAT = "webchat"


class Language(str, enum.Enum):
    """Conversation languages; values are the catalog directories under `locales/`."""

    PT_BR = "pt_BR"
    ES = "es"
    IT = "it"
    EN = "en"


class VerificationMode(str, enum.Enum):
    """What a creditor asks of a contact that proves no possession of a channel on file."""

    KNOWLEDGE_AND_CODE = "knowledge_and_code"  # document suffix + birth date, then an e-mailed code
    KNOWLEDGE_ONLY = "knowledge_only"  # document suffix + birth date


class Actor(str, enum.Enum):
    DEBTOR = "debtor"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


def string_enum(
    enum_class: type[enum.Enum], length: int = 24, *, name: str | None = None
) -> sa.Enum:
    """A portable column type storing an enum's values (not its names) as VARCHAR.

    `name` names the CHECK constraint; give one when a table has two columns of one enum.
    """
    return sa.Enum(
        enum_class,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
        name=name or enum_class.__name__.lower(),
    )
