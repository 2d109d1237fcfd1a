"""The compliance gate: whether an outbox message may go now, later, or never, and where.

`decide` is a pure function of plain facts (the message, the debtor and their channels, the
debt, the country's contact rule) and `now`; it reads no clock and no database, so every rule
is tested with a frozen clock. `backend.campaigns.contact_rules.load_facts` builds the facts
for a batch of outbox rows. The answer is one of:

- `Suppress(reason)`: never send this message (final; the reason is recorded);
- `Defer(until, reason)`: not now; try again at `until` (UTC), the earliest allowed instant;
- `Send(route, template_only)`: send now on this channel (WhatsApp outside its 24-hour
  service window: an approved template only).

Checks run in this order: the debtor and the debt (suppressions), the channel (the first
allowed one in the cadence policy's order, else a suppression), then time (the debtor's
local window, excluded weekdays, public holidays, frequency caps). Time is the debtor's local
time from `zoneinfo`, compared as wall-clock time, so DST days behave: a window start that
falls in a skipped hour opens when the clocks jump, one in a repeated hour opens at its first
occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from backend.debts.models import DebtStatus
from backend.gateway.models import MessageKind, OutboundChannel

# WhatsApp allows free-form messages within 24 hours of the person's last message.
WHATSAPP_SERVICE_WINDOW = timedelta(hours=24)
# A web chat visitor sees a message only when their page is open again; after a month of
# silence the session is most likely gone, so the web chat is not counted as a way to reach
# them (and a message there would only sit unread).
WEBCHAT_IDLE_LIMIT = timedelta(days=30)
CAP_PERIOD = timedelta(days=7)
# A contact rule that excludes every day is refused by the API; this only stops a loop.
_MAX_DAYS_AHEAD = 400

# Suppression reasons (final, recorded on the outbox row).
OPTED_OUT = "opted_out"
NO_REACHABLE_CHANNEL = "no_reachable_channel"
DISPUTE_OPEN = "dispute_open"
PAYMENT_CLAIM_UNDER_REVIEW = "payment_claim_under_review"
DEBT_PAID = "debt_paid"
DEBT_CLOSED = "debt_closed"
PLAN_IN_GOOD_STANDING = "plan_in_good_standing"
PROMISE_ACTIVE = "promise_active"
SUPERSEDED = "superseded"
DEBTOR_ERASED = "debtor_erased"
LEGAL_REVIEW = "legal_review"

# Deferral reasons.
OUTSIDE_HOURS = "outside_hours"
EXCLUDED_WEEKDAY = "excluded_weekday"
PUBLIC_HOLIDAY = "public_holiday"
DAILY_CAP = "daily_cap"
WEEKLY_CAP = "weekly_cap"
NOT_YET_DUE = "not_yet_due"  # the message's local day has not come yet

# Why a channel was passed over (recorded as skipped-channel attempts).
SKIP_NO_CONTACT = "no_contact"  # nothing on this channel is bound to the debtor
SKIP_NOT_LINKED = "not_linked"  # a Telegram chat whose possession was never proven
SKIP_WEBCHAT_IDLE = "webchat_idle"
SKIP_NO_TEMPLATE = "no_template"  # WhatsApp outside 24 h, no approved template
SKIP_FAILED = "failed"  # failed permanently for this message already

# Messages that confirm something the debtor did: never capped, never counted by the caps,
# and sent whatever the debt's state (a receipt for money received is always due).
TRANSACTIONAL_KINDS = frozenset({MessageKind.PAYMENT_THANKS})


@dataclass(frozen=True)
class Route:
    """Where a message goes: a channel and the address on it."""

    channel: OutboundChannel
    contact_id: int | None  # the channel contact (None for e-mail)
    address: str  # chat id, wa_id, web session id, or e-mail address


@dataclass(frozen=True)
class RouteFacts:
    """One channel of the debtor's cadence policy order, as it stands."""

    route: Route
    opted_out: bool = False
    # Why the channel cannot carry messages whatever the time (SKIP_NO_CONTACT, SKIP_NOT_LINKED).
    unreachable: str | None = None
    last_inbound_at: datetime | None = None  # WhatsApp's 24-hour window, web chat idleness
    template_available: bool = False  # WhatsApp: an approved template for their language


@dataclass(frozen=True)
class MessageFacts:
    kind: MessageKind
    level: int | None
    scheduled_for: date
    debt_id: int | None
    # A newer level of the same debt is queued, or what the message is about is over
    # (the promise is no longer active, the installment is paid).
    is_superseded: bool = False
    # The last cadence level: it announces the staff review, so legal review spares it.
    escalates: bool = False


@dataclass(frozen=True)
class DebtorFacts:
    timezone: str
    country: str
    erased: bool
    routes: tuple[RouteFacts, ...]  # in the cadence policy's channel order
    # When messages were sent to this debtor over the last 7 days, on every channel (UTC;
    # transactional messages excluded).
    recent_sends: tuple[datetime, ...] = ()


@dataclass(frozen=True)
class DebtFacts:
    status: DebtStatus
    outstanding_minor: int
    dispute_open: bool = False
    payment_claim_open: bool = False
    plan_in_good_standing: bool = False
    promise_until: date | None = None  # the promised date of an active promise
    legal_review: bool = False


@dataclass(frozen=True)
class ContactRuleFacts:
    country: str
    window_start: time
    window_end: time
    excluded_weekdays: frozenset[int] = frozenset()
    skip_public_holidays: bool = True
    max_per_day: int = 1
    max_per_7_days: int = 7


@dataclass(frozen=True)
class Skip:
    channel: OutboundChannel
    reason: str


@dataclass(frozen=True)
class Send:
    route: Route
    template_only: bool = False
    # Channels passed over before this one, and why (for the delivery record).
    skipped: tuple[Skip, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str


@dataclass(frozen=True)
class Suppress:
    reason: str
    skipped: tuple[Skip, ...] = field(default=(), compare=False)


Decision = Send | Defer | Suppress


def decide(
    message: MessageFacts,
    debtor: DebtorFacts,
    debt: DebtFacts | None,
    rule: ContactRuleFacts,
    now: datetime,
    *,
    skip_channels: frozenset[OutboundChannel] = frozenset(),
) -> Decision:
    """Whether to send `message` now, later or never, and on which channel."""
    reason = _suppression(message, debtor, debt, rule, now)
    if reason is not None:
        return Suppress(reason)
    routed = _route(debtor, now, skip_channels)
    if isinstance(routed, Suppress):
        return routed
    deferred = _timing(message, debtor, rule, now)
    return deferred if deferred is not None else routed


# --- suppressions -------------------------------------------------------------------------


def _suppression(
    message: MessageFacts,
    debtor: DebtorFacts,
    debt: DebtFacts | None,
    rule: ContactRuleFacts,
    now: datetime,
) -> str | None:
    if debtor.erased:
        return DEBTOR_ERASED
    if message.is_superseded:
        return SUPERSEDED
    if debt is None or message.kind in TRANSACTIONAL_KINDS:
        return None
    if debt.status is DebtStatus.PAID or debt.outstanding_minor <= 0:
        return DEBT_PAID
    if debt.status is DebtStatus.WRITTEN_OFF:
        return DEBT_CLOSED
    if debt.dispute_open or debt.status is DebtStatus.DISPUTED:
        return DISPUTE_OPEN
    if debt.payment_claim_open:
        return PAYMENT_CLAIM_UNDER_REVIEW
    if message.kind is not MessageKind.REMINDER:
        # Promise and installment messages are about the promise or plan itself.
        return None
    if debt.legal_review and not message.escalates:
        return LEGAL_REVIEW
    if debt.plan_in_good_standing:
        return PLAN_IN_GOOD_STANDING
    today = now.astimezone(ZoneInfo(debtor.timezone)).date()
    if debt.promise_until is not None and today <= debt.promise_until:
        return PROMISE_ACTIVE
    return None


# --- channels -----------------------------------------------------------------------------


def _route(
    debtor: DebtorFacts, now: datetime, skip_channels: frozenset[OutboundChannel]
) -> Send | Suppress:
    """The first allowed channel in order, or why there is none.

    `opted_out` when every channel the debtor can be reached on was opted out (channels with
    nothing bound to the debtor do not count); otherwise `no_reachable_channel`.
    """
    skipped: list[Skip] = []
    opted_out = False
    blocked_otherwise = False
    for facts in debtor.routes:
        channel = facts.route.channel
        why = _why_not(facts, now, skip_channels)
        if why is None:
            template_only = channel is OutboundChannel.WHATSAPP and not _in_service_window(
                facts, now
            )
            return Send(facts.route, template_only=template_only, skipped=tuple(skipped))
        skipped.append(Skip(channel, why))
        if why == OPTED_OUT:
            opted_out = True
        elif why != SKIP_NO_CONTACT:
            blocked_otherwise = True
    reason = OPTED_OUT if opted_out and not blocked_otherwise else NO_REACHABLE_CHANNEL
    return Suppress(reason, skipped=tuple(skipped))


def _why_not(
    facts: RouteFacts, now: datetime, skip_channels: frozenset[OutboundChannel]
) -> str | None:
    channel = facts.route.channel
    if facts.unreachable == SKIP_NO_CONTACT:
        return SKIP_NO_CONTACT
    if facts.opted_out:
        return OPTED_OUT
    if facts.unreachable is not None:
        return facts.unreachable
    if channel in skip_channels:
        return SKIP_FAILED
    if channel is OutboundChannel.WEBCHAT and (
        facts.last_inbound_at is None or now - facts.last_inbound_at >= WEBCHAT_IDLE_LIMIT
    ):
        return SKIP_WEBCHAT_IDLE
    if (
        channel is OutboundChannel.WHATSAPP
        and not _in_service_window(facts, now)
        and not facts.template_available
    ):
        return SKIP_NO_TEMPLATE
    return None


def _in_service_window(facts: RouteFacts, now: datetime) -> bool:
    last = facts.last_inbound_at
    return last is not None and now - last < WHATSAPP_SERVICE_WINDOW


# --- time ---------------------------------------------------------------------------------


def _timing(
    message: MessageFacts, debtor: DebtorFacts, rule: ContactRuleFacts, now: datetime
) -> Defer | None:
    """The earliest allowed instant from `now`, as a deferral with the first reason met.

    Each obstacle moves the candidate instant forward (to a window opening, or to when a
    send leaves the 7-day window) until none applies.
    """
    zone = ZoneInfo(debtor.timezone)
    capped = message.kind not in TRANSACTIONAL_KINDS
    first_reason: str | None = None
    candidate = now
    for _ in range(_MAX_DAYS_AHEAD * 4):
        obstacle = _obstacle(message, debtor, rule, zone, candidate, capped=capped)
        if obstacle is None:
            break
        reason, later = obstacle
        first_reason = first_reason or reason
        candidate = later
    else:
        raise ValueError(f"no allowed contact time within a year for rule {rule.country!r}")
    if first_reason is None:
        return None
    return Defer(until=candidate, reason=first_reason)


def _obstacle(
    message: MessageFacts,
    debtor: DebtorFacts,
    rule: ContactRuleFacts,
    zone: ZoneInfo,
    at: datetime,
    *,
    capped: bool,
) -> tuple[str, datetime] | None:
    """The first rule that forbids contact at `at`, and the next instant worth trying."""
    local = at.astimezone(zone)
    day = local.date()

    def next_opening(from_day: date) -> datetime:
        allowed = _next_allowed_day(rule, debtor.country, from_day)
        return _opens_at(rule, zone, allowed)

    if day < message.scheduled_for:
        return NOT_YET_DUE, next_opening(message.scheduled_for)
    exclusion = day_exclusion(rule, debtor.country, day)
    if exclusion is not None:
        return exclusion, next_opening(day + timedelta(days=1))
    wall = local.time()
    if wall < rule.window_start:
        opening = _opens_at(rule, zone, day)
        # In a repeated hour the opening may already be behind us: the window is open.
        if opening > at:
            return OUTSIDE_HOURS, opening
    if wall >= rule.window_end:
        return OUTSIDE_HOURS, next_opening(day + timedelta(days=1))
    if not capped:
        return None
    today = sum(1 for sent in debtor.recent_sends if sent.astimezone(zone).date() == day)
    if today >= rule.max_per_day:
        return DAILY_CAP, next_opening(day + timedelta(days=1))
    in_period = sorted(sent for sent in debtor.recent_sends if at - CAP_PERIOD < sent <= at)
    if len(in_period) >= rule.max_per_7_days:
        # When enough of the oldest sends have left the period for one more to fit.
        return WEEKLY_CAP, in_period[len(in_period) - rule.max_per_7_days] + CAP_PERIOD
    return None


def day_exclusion(rule: ContactRuleFacts, country: str, day: date) -> str | None:
    """Why the debtor's local `day` is closed to contact, or None."""
    if day.weekday() in rule.excluded_weekdays:
        return EXCLUDED_WEEKDAY
    if rule.skip_public_holidays and day in _public_holidays(country, day.year):
        return PUBLIC_HOLIDAY
    return None


def _next_allowed_day(rule: ContactRuleFacts, country: str, day: date) -> date:
    for offset in range(_MAX_DAYS_AHEAD):
        candidate = day + timedelta(days=offset)
        if day_exclusion(rule, country, candidate) is None:
            return candidate
    raise ValueError(f"no allowed contact day within a year for rule {rule.country!r}")


@lru_cache(maxsize=256)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    """The country's national public holidays in `year` (none for an unknown country)."""
    try:
        calendar = holidays.country_holidays(country.upper(), years=year)
    except NotImplementedError:
        return frozenset()
    return frozenset(calendar)


def window_opens_at(rule: ContactRuleFacts, timezone: str, day: date) -> datetime:
    """When the contact window opens on the debtor's local `day`, in UTC.

    Producers use it for an outbox row's `not_before`. The day itself is not checked against
    excluded weekdays or holidays: the gate defers those.
    """
    return _opens_at(rule, ZoneInfo(timezone), day)


def _opens_at(rule: ContactRuleFacts, zone: ZoneInfo, day: date) -> datetime:
    local = datetime.combine(day, rule.window_start, tzinfo=zone)  # fold=0: first occurrence
    instant = local.astimezone(timezone.utc)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # The start falls in the hour the clocks skip: the window opens when they jump, the
    # first instant whose wall-clock time is past the start. Transitions fall on whole
    # seconds, so a bisection over seconds between the two readings of the missing time
    # (the jump lies between them) finds it exactly.
    wanted = local.replace(tzinfo=None)
    readings = sorted((instant, local.replace(fold=1).astimezone(timezone.utc)))
    low, high = (int(reading.timestamp()) for reading in readings)
    while high - low > 1:
        middle = (low + high) // 2
        wall = datetime.fromtimestamp(middle, timezone.utc).astimezone(zone)
        if wall.replace(tzinfo=None) >= wanted:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, timezone.utc)
