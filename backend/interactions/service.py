"""Writing to the interaction log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.enums import Actor, Channel
from backend.interactions.models import Direction, Interaction
from backend.privacy import keys


def record(
    *,
    db_session: Session,
    event: str,
    actor: Actor,
    direction: Direction = Direction.INTERNAL,
    contact: ChannelContact | None = None,
    debtor_id: int | None = None,
    debt_id: int | None = None,
    channel: Channel | None = None,
    text: str | None = None,
    actor_ref: str | None = None,
    data: dict[str, Any] | None = None,
) -> Interaction:
    """Append one entry; the caller's transaction commits it with the change it describes.

    The text is stored sealed with the key of the contact it came through or went to (or of
    the debtor, for an entry without a contact).
    """
    if contact is not None and contact.id is None:
        db_session.flush()  # the key belongs to the contact: it needs its id
    debtor_id = debtor_id if debtor_id is not None else (contact.debtor_id if contact else None)
    sealed = None
    if text is not None:
        sealed = keys.seal_text(
            db_session=db_session,
            text=text,
            contact_id=contact.id if contact else None,
            debtor_id=debtor_id,
        )
    interaction = Interaction(
        event=event,
        actor=actor,
        direction=direction,
        contact_id=contact.id if contact else None,
        debtor_id=debtor_id,
        debt_id=debt_id,
        channel=channel or (contact.channel if contact else None),
        sealed_text=sealed,
        actor_ref=actor_ref,
        data=data or {},
    )
    db_session.add(interaction)
    return interaction


def list_for_debtor(*, db_session: Session, debtor_id: int, limit: int = 200) -> list[Interaction]:
    query = (
        select(Interaction)
        .where(Interaction.debtor_id == debtor_id)
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
        .limit(limit)
    )
    return list(db_session.scalars(query))


def read_text(
    *, db_session: Session, interaction: Interaction, cache: dict | None = None
) -> str | None:
    """The entry's text in clear, or "[erased]" once its owner's key was destroyed.

    Pass the same `cache` dict when reading many entries: each key is then fetched once.
    """
    return keys.open_text(db_session=db_session, sealed=interaction.sealed_text, cache=cache)
