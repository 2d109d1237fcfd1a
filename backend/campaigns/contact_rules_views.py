"""Routes to read and edit when and how often debtors in each country may be contacted."""

from __future__ import annotations

from datetime import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.campaigns import contact_rules
from backend.campaigns.gate import ContactRuleFacts
from backend.campaigns.models import ContactRule
from backend.db import SessionDep
from backend.deps import require_service_token

# The service token is checked here too, so the routes are never open by accident.
router = APIRouter(
    prefix="/contact-rules",
    tags=["contact rules"],
    dependencies=[Depends(require_service_token)],
)

CountryPath = Annotated[
    str,
    Path(
        pattern=r"^(\*|[A-Za-z]{2})$",
        description='ISO 3166-1 alpha-2 country code, or "*" for every other country',
    ),
]
Weekday = Annotated[int, Field(ge=0, le=6)]
# Caps above these limit nothing (and a number past the database's integer is a 500, not a rule).
MAX_PER_DAY = 100
MAX_PER_7_DAYS = 7 * MAX_PER_DAY


# A country's rule as staff write it.
class ContactRuleWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_start: time = Field(description="debtor's local time the window opens, e.g. 08:00")
    window_end: time = Field(description="debtor's local time the window closes, e.g. 21:00")
    excluded_weekdays: list[Weekday] = Field(
        default_factory=list, description="days with no contact, 0 = Monday … 6 = Sunday"
    )
    skip_public_holidays: bool = True
    max_per_day: int = Field(
        ge=1, le=MAX_PER_DAY, description="messages per debtor per local day, all channels"
    )
    max_per_7_days: int = Field(
        ge=1, le=MAX_PER_7_DAYS, description="messages per debtor in any 7 days"
    )

    @field_validator("window_start", "window_end")
    @classmethod
    def _local_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a local wall-clock time, without a UTC offset (e.g. 08:00)")
        return value

    @field_validator("excluded_weekdays")
    @classmethod
    def _some_day_left(cls, days: list[int]) -> list[int]:
        if len(set(days)) == 7:
            raise ValueError("at least one weekday must allow contact")
        return sorted(set(days))

    @model_validator(mode="after")
    def _consistent(self) -> ContactRuleWrite:
        if self.window_start >= self.window_end:
            raise ValueError("window_start must be before window_end (same local day)")
        if self.max_per_day > self.max_per_7_days:
            raise ValueError("max_per_day cannot exceed max_per_7_days")
        return self


# A country's rule as stored.
class ContactRuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    country: str
    window_start: time
    window_end: time
    excluded_weekdays: list[int]
    skip_public_holidays: bool
    max_per_day: int
    max_per_7_days: int


@router.get("", response_model=list[ContactRuleRead])
def list_contact_rules(db_session: SessionDep) -> list[ContactRule]:
    return contact_rules.list_rules(db_session=db_session)


@router.put("/{country}", response_model=ContactRuleRead)
def put_contact_rule(
    country: CountryPath, change: ContactRuleWrite, db_session: SessionDep
) -> ContactRule:
    """Create or replace the rule of a country; the gate applies it to the next decision."""
    facts = ContactRuleFacts(
        country=country.upper(),
        window_start=change.window_start,
        window_end=change.window_end,
        excluded_weekdays=frozenset(change.excluded_weekdays),
        skip_public_holidays=change.skip_public_holidays,
        max_per_day=change.max_per_day,
        max_per_7_days=change.max_per_7_days,
    )
    return contact_rules.put_rule(db_session=db_session, country=facts.country, facts=facts)
