"""Handoffs: escalating, taking (one winner), handing back, closing, and the queue's order."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from backend.db import session_factory
from backend.enums import Actor
from backend.exceptions import Conflict
from backend.handoffs import service as handoffs
from backend.handoffs.models import Handoff, HandoffStatus
from backend.interactions.models import Interaction
from backend.staff.models import StaffMember, StaffRole
from tests import factories

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)


def staff_member(db_session, name="Bruna Lima", role=StaffRole.AGENT) -> StaffMember:
    member = StaffMember(
        email=f"{name.split()[0].lower()}@aurora.example",
        display_name=name,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        role=role,
        active=True,
    )
    db_session.add(member)
    db_session.flush()
    return member


def bound_contact(db_session, *, priority=0, **contact_overrides):
    owner = factories.creditor(db_session)
    person = factories.debtor(db_session, owner, recovery_priority_minor=priority)
    return factories.contact(db_session, person, **contact_overrides)


def events(db_session) -> list[tuple[str, Actor, dict]]:
    query = select(Interaction).where(Interaction.event.like("handoff.%")).order_by(Interaction.id)
    return [(i.event, i.actor, i.data) for i in db_session.scalars(query)]


def test_an_escalation_queues_the_conversation_once_with_the_debtors_priority(db_session):
    contact = bound_contact(db_session, priority=123_456)

    first = handoffs.escalate(db_session, contact=contact, reason="request_human", now=NOW)
    again = handoffs.escalate(db_session, contact=contact, reason="dispute", now=NOW)
    db_session.commit()

    assert again.id == first.id and first.reason == "request_human"
    assert first.status is HandoffStatus.QUEUED and first.priority == 123_456
    assert handoffs.owner_of(db_session, contact).id == first.id
    assert events(db_session) == [
        ("handoff.queued", Actor.SYSTEM, {"handoff_id": first.id, "reason": "request_human"})
    ]


def test_an_unknown_sender_is_queued_with_no_priority(db_session):
    stranger = factories.contact(db_session, None)

    handoff = handoffs.escalate(db_session, contact=stranger, reason="abusive_language", now=NOW)

    assert handoff.priority == 0 and handoff.debtor_id is None


def test_an_unknown_reason_is_refused(db_session):
    with pytest.raises(ValueError):
        handoffs.escalate(
            db_session, contact=factories.contact(db_session), reason="bored", now=NOW
        )


def test_take_hand_back_and_escalate_again(db_session):
    contact = bound_contact(db_session)
    agent = staff_member(db_session)
    handoff = handoffs.escalate(db_session, contact=contact, reason="request_human", now=NOW)

    handoffs.assign(db_session, handoff=handoff, staff=agent, now=NOW + timedelta(minutes=3))
    handoffs.note_staff_reply(
        db_session, handoff=handoff, staff=agent, now=NOW + timedelta(minutes=5)
    )
    handoffs.note_staff_reply(
        db_session, handoff=handoff, staff=agent, now=NOW + timedelta(minutes=9)
    )
    handoffs.hand_back(db_session, handoff=handoff, staff=agent, now=NOW + timedelta(hours=1))
    db_session.commit()

    assert handoff.status is HandoffStatus.HANDED_BACK
    assert handoff.assigned_staff_id == agent.id and handoff.ended_by_staff_id == agent.id
    assert handoff.first_response_at == NOW + timedelta(minutes=5)
    assert handoffs.owner_of(db_session, contact) is None
    with pytest.raises(Conflict):
        handoffs.close(db_session, handoff=handoff, staff=agent, now=NOW + timedelta(hours=2))

    again = handoffs.escalate(db_session, contact=contact, reason="hardship", now=NOW)
    assert again.id != handoff.id
    assert [(event, actor) for event, actor, _ in events(db_session)] == [
        ("handoff.queued", Actor.SYSTEM),
        ("handoff.assigned", Actor.AGENT),
        ("handoff.handed_back", Actor.AGENT),
        ("handoff.queued", Actor.SYSTEM),
    ]
    assigned = events(db_session)[1][2]
    assert assigned == {"handoff_id": handoff.id, "staff_id": agent.id, "reason": "request_human"}


def test_close_ends_the_handoff(db_session):
    contact = bound_contact(db_session)
    agent = staff_member(db_session)
    handoff = handoffs.escalate(db_session, contact=contact, reason="dispute", now=NOW)

    handoffs.close(db_session, handoff=handoff, staff=agent, now=NOW)

    assert handoff.status is HandoffStatus.CLOSED and handoff.ended_at == NOW
    assert handoffs.owner_of(db_session, contact) is None
    assert events(db_session)[-1][0] == "handoff.closed"


def test_two_staff_taking_the_same_item_get_one_winner(engine, db_session):
    contact = bound_contact(db_session)
    first, second = staff_member(db_session, "Bruna Lima"), staff_member(db_session, "Caio Reis")
    handoff_id = handoffs.escalate(db_session, contact=contact, reason="dispute", now=NOW).id
    db_session.commit()
    sessions = session_factory(engine)
    with sessions() as one, sessions() as other:
        # Both consoles loaded the item while it was queued.
        seen_by_one, seen_by_other = one.get(Handoff, handoff_id), other.get(Handoff, handoff_id)
        taker = one.get(StaffMember, first.id)
        handoffs.assign(one, handoff=seen_by_one, staff=taker, now=NOW)
        one.commit()
        with pytest.raises(Conflict) as refused:
            handoffs.assign(
                other, handoff=seen_by_other, staff=other.get(StaffMember, second.id), now=NOW
            )
        other.rollback()
        # The winner taking it again changes nothing.
        assert handoffs.assign(one, handoff=seen_by_one, staff=taker, now=NOW).id == handoff_id

    assert refused.value.reason_code == "handoff_taken"
    db_session.expire_all()
    assert db_session.get(Handoff, handoff_id).assigned_staff_id == first.id
    assert [event for event, _, _ in events(db_session)].count("handoff.assigned") == 1


def test_concurrent_escalations_leave_one_open_handoff(engine, db_session, monkeypatch):
    contact = bound_contact(db_session)
    db_session.commit()
    sessions = session_factory(engine)
    with sessions() as one, sessions() as other:
        late_contact = other.get(type(contact), contact.id)
        first_contact = one.get(type(contact), contact.id)
        won = handoffs.escalate(one, contact=first_contact, reason="dispute", now=NOW)
        one.commit()
        # The other request looked before the first committed: it saw no open handoff.
        monkeypatch.setattr(handoffs, "owner_of", lambda *_: None)
        lost = handoffs.escalate(other, contact=late_contact, reason="request_human", now=NOW)
        other.commit()

    assert lost.id == won.id
    open_ones = db_session.scalars(select(Handoff).where(Handoff.status.in_(handoffs.OPEN)))
    assert [h.reason for h in open_ones] == ["dispute"]


def test_take_over_assigns_at_once_or_takes_the_queued_one(db_session):
    agent, colleague = staff_member(db_session, "Bruna Lima"), staff_member(db_session, "Caio Reis")
    quiet = bound_contact(db_session)
    waiting = bound_contact(db_session)
    queued = handoffs.escalate(db_session, contact=waiting, reason="request_human", now=NOW)

    taken = handoffs.take_over(db_session, contact=quiet, staff=agent, now=NOW)
    from_queue = handoffs.take_over(db_session, contact=waiting, staff=agent, now=NOW)

    assert taken.status is HandoffStatus.ASSIGNED and taken.taken_by_staff
    assert taken.reason == "staff" and taken.assigned_staff_id == agent.id
    assert from_queue.id == queued.id and from_queue.assigned_staff_id == agent.id
    with pytest.raises(Conflict):
        handoffs.take_over(db_session, contact=quiet, staff=colleague, now=NOW)


def test_the_queue_is_ordered_by_priority_then_waiting_time(db_session):
    agent = staff_member(db_session)
    low_old = bound_contact(db_session, priority=1_000)
    high = bound_contact(db_session, priority=900_000)
    low_new = bound_contact(db_session, priority=1_000)
    ended = bound_contact(db_session, priority=5_000_000)
    for contact, minutes in ((low_old, 50), (high, 5), (low_new, 10), (ended, 60)):
        handoffs.escalate(
            db_session,
            contact=contact,
            reason="request_human",
            now=NOW - timedelta(minutes=minutes),
        )
    closed = handoffs.owner_of(db_session, ended)
    handoffs.close(db_session, handoff=closed, staff=agent, now=NOW)
    db_session.commit()

    items = handoffs.queue(db_session, now=NOW)

    assert [item.contact_id for item in items] == [high.id, low_old.id, low_new.id]
    assert [item.waiting_seconds for item in items] == [300, 3000, 600]
    assert items[0].debtor_name == "Ana Souza" and items[0].channel.value == "webchat"


# --- what opens a handoff ---------------------------------------------------------------


def open_handoffs(db_session) -> list[tuple[int, str]]:
    db_session.expire_all()
    query = select(Handoff).where(Handoff.status.in_(handoffs.OPEN)).order_by(Handoff.id)
    return [(h.contact_id, h.reason) for h in db_session.scalars(query)]


def contact_path(contact) -> str:
    return f"/api/v1/contacts/{contact.channel.value}/{contact.external_id}"


@pytest.mark.parametrize(
    ("asked", "queued"),
    [
        ("request_human", "request_human"),
        ("not_understood", "repeated_fallback"),  # sent after two fallbacks in a row
        ("plan_beyond_policy", "plan_beyond_policy"),
        ("hardship", "hardship"),
    ],
)
def test_the_bot_escalating_queues_the_conversation(client, db_session, asked, queued):
    contact = bound_contact(db_session)
    db_session.commit()

    response = client.post(f"{contact_path(contact)}/escalations", json={"reason": asked})

    assert response.status_code == 201
    assert response.json()["status"] == "escalated"
    assert open_handoffs(db_session) == [(contact.id, queued)]
    logged = db_session.scalars(
        select(Interaction.data).where(Interaction.event == "escalation.requested")
    ).all()
    assert logged == [{"reason": asked}]


def test_hardship_stays_with_the_bot_when_settings_say_so(app, client, db_session, settings):
    from backend.config import get_settings

    app.dependency_overrides[get_settings] = lambda: settings.model_copy(
        update={"escalate_on_hardship": False}
    )
    contact = bound_contact(db_session)
    db_session.commit()

    response = client.post(f"{contact_path(contact)}/escalations", json={"reason": "hardship"})

    assert response.json()["status"] == "recorded"
    assert open_handoffs(db_session) == []


def test_a_dispute_queues_the_conversation_it_came_from(db_session):
    from backend.disputes import service as disputes
    from backend.disputes.models import DisputeReason
    from backend.disputes.schemas import DisputeCreate

    person, owed = factories.debtor_with_debt(db_session)
    talking = factories.contact(db_session, person)
    quiet = factories.contact(db_session, person)
    other_debt = factories.debt(db_session, person)

    disputes.open_dispute(
        db_session=db_session,
        debt=owed,
        dispute=DisputeCreate(reason=DisputeReason.NOT_MINE),
        channel=talking.channel,
        now=NOW,
        contact=talking,
    )
    # Staff or an import open one without a conversation: the debtor's latest one is queued.
    talking_handoff = handoffs.owner_of(db_session, talking)
    agent = staff_member(db_session)
    handoffs.close(db_session, handoff=talking_handoff, staff=agent, now=NOW)
    quiet.last_inbound_at = NOW
    disputes.open_dispute(
        db_session=db_session,
        debt=other_debt,
        dispute=DisputeCreate(reason=DisputeReason.WRONG_AMOUNT),
        channel=None,
        now=NOW,
    )

    assert talking_handoff.debt_id == owed.id
    assert open_handoffs(db_session) == [(quiet.id, "dispute")]


def test_a_locked_contact_is_queued_for_a_person(client, db_session):
    contact = bound_contact(db_session)
    db_session.commit()
    wrong = {"document_suffix": "0000", "birth_date": "1970-01-01"}

    statuses = [
        client.post(f"{contact_path(contact)}/verification", json=wrong).status_code
        for _ in range(3)
    ]

    assert statuses[-1] == 423
    assert open_handoffs(db_session) == [(contact.id, "verification_locked")]


def test_the_last_cadence_level_queues_the_debtors_latest_conversation(db_session):
    from backend.campaigns import planner

    person, owed = factories.debtor_with_debt(db_session)
    older = factories.contact(db_session, person, last_inbound_at=NOW - timedelta(days=9))
    recent = factories.contact(db_session, person, last_inbound_at=NOW - timedelta(days=1))
    never = factories.contact(db_session, person)
    db_session.commit()

    assert planner.escalate(db_session, debt_ids=[owed.id], now=NOW) == 1
    db_session.commit()

    assert open_handoffs(db_session) == [(recent.id, "cadence_final_level")]
    assert {older.id, never.id}.isdisjoint(c for c, _ in open_handoffs(db_session))


def test_two_consoles_taking_at_the_same_moment_get_one_winner(engine, db_session):
    contact = bound_contact(db_session)
    takers = [staff_member(db_session, "Bruna Lima").id, staff_member(db_session, "Caio Reis").id]
    handoff_id = handoffs.escalate(db_session, contact=contact, reason="dispute", now=NOW).id
    db_session.commit()
    sessions = session_factory(engine)
    start = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def take(staff_id: int) -> None:
        with sessions() as session:
            handoff = session.get(Handoff, handoff_id)
            staff = session.get(StaffMember, staff_id)
            start.wait()
            try:
                handoffs.assign(session, handoff=handoff, staff=staff, now=NOW)
                session.commit()
                outcomes[staff_id] = "taken"
            except Conflict as refused:
                session.rollback()
                outcomes[staff_id] = refused.reason_code

    threads = [threading.Thread(target=take, args=(staff_id,)) for staff_id in takers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes.values()) == ["handoff_taken", "taken"]
    db_session.expire_all()
    winner = next(staff_id for staff_id, outcome in outcomes.items() if outcome == "taken")
    assert db_session.get(Handoff, handoff_id).assigned_staff_id == winner
