"""Deduplication of inbound channel updates: platforms redeliver when unsure."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.enums import Channel
from backend.gateway.channels.models import InboundUpdate


def first_delivery(*, db_session: Session, channel: Channel, update_id: str) -> bool:
    """Record the update and say whether this is its first delivery.

    The unique constraint decides, so concurrent redeliveries are also handled once. The
    caller's transaction is committed here: the mark must survive even if handling fails
    later, or a retry would be answered twice.
    """
    try:
        with db_session.begin_nested():
            db_session.add(InboundUpdate(channel=channel, update_id=update_id))
    except IntegrityError:
        db_session.rollback()
        return False
    db_session.commit()
    return True
