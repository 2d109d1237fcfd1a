"""Every staff action in the interaction log, with who did it.

Entries are `staff.<action>` events by `Actor.AGENT` whose `actor_ref` is the staff member's
id; the log is append-only, so the record cannot be edited afterwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backend.contacts.models import ChannelContact
from backend.enums import Actor
from backend.interactions.models import Interaction
from backend.interactions.service import record
from backend.staff.models import StaffMember

EVENT_PREFIX = "staff."


def record_staff_action(
    db_session: Session,
    *,
    staff: StaffMember,
    event: str,
    contact: ChannelContact | None = None,
    debtor_id: int | None = None,
    debt_id: int | None = None,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Interaction:
    """Log one action (`event` "plan.created" is logged as "staff.plan.created").

    Give `now` (the request's clock) so that the entry's time is the business time; the
    caller's transaction commits it with the change it describes.
    """
    name = event if event.startswith(EVENT_PREFIX) else EVENT_PREFIX + event
    entry = record(
        db_session=db_session,
        event=name,
        actor=Actor.AGENT,
        actor_ref=str(staff.id),
        contact=contact,
        debtor_id=debtor_id,
        debt_id=debt_id,
        data={"staff_role": staff.role.value, **(data or {})},
    )
    if now is not None:
        entry.occurred_at = now
    return entry
