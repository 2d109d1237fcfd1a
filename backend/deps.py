"""Request dependencies: service authentication, the clock, the verified contact, their debt."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.config import Settings, get_settings
from backend.contacts import service as contacts
from backend.contacts.models import ChannelContact
from backend.contacts.signing import (
    HEADER as CONTACT_SIGNATURE_HEADER,
)
from backend.contacts.signing import (
    ContactSignatureInvalid,
    check_contact_signature,
)
from backend.db import SessionDep, utcnow
from backend.debtors.models import Debtor
from backend.debts import service as debts
from backend.debts.models import Debt
from backend.enums import Channel

SettingsDep = Annotated[Settings, Depends(get_settings)]
# The largest id an Integer primary key holds (PostgreSQL's 4-byte integer). A larger number in
# a path or a query names nothing, and SQLite cannot even bind it (a 500 instead of a 4xx).
MAX_ROW_ID = 2**31 - 1
_bearer = HTTPBearer(auto_error=False)


def require_service_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Only the action server, the channel gateway and staff tools hold the service token."""
    presented = credentials.credentials if credentials else ""
    if not secrets.compare_digest(presented.encode(), settings.service_token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"reason_code": "unauthorized", "message": "a valid service token is required"},
            headers={"WWW-Authenticate": "Bearer"},
        )


def get_now() -> datetime:
    return utcnow()


Now = Annotated[datetime, Depends(get_now)]


def require_contact_signature(request: Request, settings: SettingsDep) -> None:
    """A contact's routes answer only for the contact the gateway signed into this turn.

    Routes without a contact in their path (knowledge, staff routes) need nothing more. The
    signature's expiry is checked against the real clock, not the business clock tests set.
    """
    channel = request.path_params.get("channel")
    external_id = request.path_params.get("external_id")
    if channel is None or external_id is None:
        return
    try:
        check_contact_signature(
            request.headers.get(CONTACT_SIGNATURE_HEADER),
            channel=str(channel),
            external_id=str(external_id),
            secret=settings.contact_signing_secret,
            now=utcnow(),
        )
    except ContactSignatureInvalid as exc:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail={"reason_code": "contact_not_signed", "message": str(exc)},
        ) from exc


ChannelPath = Annotated[Channel, Path(description="telegram, whatsapp or webchat")]
ExternalIdPath = Annotated[
    str, Path(min_length=1, max_length=128, description="the sender's id on that channel")
]


def contact_on_channel(
    db_session: SessionDep, channel: ChannelPath, external_id: ExternalIdPath
) -> ChannelContact:
    """The sender, created on first sight so that attempts and opt-outs can be counted."""
    return contacts.get_or_create(db_session=db_session, channel=channel, external_id=external_id)


@dataclass(frozen=True)
class Verified:
    contact: ChannelContact
    debtor: Debtor


def verified_contact(
    db_session: SessionDep,
    settings: SettingsDep,
    now: Now,
    channel: ChannelPath,
    external_id: ExternalIdPath,
) -> Verified:
    contact, debtor = contacts.require_verified(
        db_session=db_session, channel=channel, external_id=external_id, settings=settings, now=now
    )
    contacts.touch_verification(contact=contact, now=now)  # the idle timeout starts again
    db_session.commit()
    return Verified(contact, debtor)


ContactDep = Annotated[ChannelContact, Depends(contact_on_channel)]
VerifiedDep = Annotated[Verified, Depends(verified_contact)]


def own_debt(
    db_session: SessionDep,
    verified: VerifiedDep,
    reference: Annotated[str, Path(min_length=1, max_length=64)],
) -> Debt:
    return debts.get_for_debtor(db_session=db_session, debtor=verified.debtor, reference=reference)


OwnDebtDep = Annotated[Debt, Depends(own_debt)]
