"""Replies to a reminder: the reminder sets the conversation's context, the reply continues it.

Reminders are sent by the backend, outside Rasa. When the person next writes on that contact,
the gateway first sends `/EXTERNAL_reminder{"debt_reference": ..., "reminder_kind": ...}`
(bot/data/rules/reminders.yml), then their text. `action_reminder_context` remembers the debt
and says nothing: the person has not been verified in this conversation, and whether the debt
is theirs is only known once they are (`actions.identity.verified_as` keeps it as the chosen
debt only if it is one of their open debts; anything else is as if no debt was chosen). The
reply is then understood as usual: "sim, quero parcelar" starts the plan form for that debt. A
bare yes, no or thanks is answered for that reminder by `action_reply_to_reminder`.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.base import CollectionsAction, human_buttons
from actions.speaker import Speaker
from locales import N_

# The kinds of reminder the backend sends (backend.gateway.models.MessageKind values).
ASKING_TO_PAY = frozenset({"reminder", "promise_broken", "installment_late", "plan_broken"})
DUE_SOON = frozenset({"promise_due", "installment_due"})
THANKS = frozenset({"payment_thanks"})
KINDS = ASKING_TO_PAY | DUE_SOON | THANKS

# What a form left waiting had collected: a reminder starts afresh.
FORM_ANSWERS = (
    "plan_ask",
    "plan_choice",
    "plan_confirmed",
    "plan_options",
    "promise_amount",
    "promise_date",
    "promise_confirmed",
    "paid_on",
)
VERIFICATION_ANSWERS = ("document_suffix", "birth_date", "one_time_code")

OPTIONS = N_("Of course. How would you like to continue?")
WELCOME_OPTIONS = N_(
    "You're welcome! Whenever you're ready, I can send you the payment link or set up a "
    "payment plan with you here."
)
NOT_NOW = N_(
    "No problem. Whenever you're ready, just write to me here: I can send you the payment "
    "link or set up a payment plan with you. If you'd rather not receive these messages, "
    "reply STOP."
)
NOTED_DUE = N_("Thank you! If anything changes before then, just write to me here.")
CANT_KEEP_PROMISE = N_(
    "No problem. If you can't pay on that date, we can look at other options together, or "
    "you can talk to a person."
)
CANT_PAY_INSTALLMENT = N_(
    "No problem. If you can't pay this installment on time, a member of our team can look at "
    "it with you."
)
WELCOME = N_("You're welcome! If you need anything else, just write to me here.")


def reminder_entities(tracker: Tracker) -> tuple[str | None, str]:
    """The reminded debt's reference and the reminder's kind, from the gateway's event."""
    found = {e["entity"]: e.get("value") for e in tracker.latest_message.get("entities", [])}
    reference = found.get("debt_reference")
    reference = str(reference).strip() if reference else None
    kind = found.get("reminder_kind")
    return reference or None, kind if kind in KINDS else "reminder"


def ways_forward(speaker: Speaker) -> list[dict[str, str]]:
    """Pay now, a plan or a person; each starts verification first when it is needed."""
    return [
        speaker.button("Pay now", "/request_payment_link"),
        speaker.button("Payment plan", "/request_payment_plan"),
        *human_buttons(speaker),
    ]


class ReminderContext(CollectionsAction):
    """Remember the reminded debt and start afresh; say nothing."""

    action_name = "action_reminder_context"

    async def act(self, speaker, backend, tracker, domain) -> list[dict[str, Any]]:
        reference, kind = reminder_entities(tracker)
        events = [
            SlotSet("reminded_debt", reference),
            SlotSet("reminder_kind", kind),
            SlotSet("pending_request", None),
            *(SlotSet(slot, None) for slot in FORM_ANSWERS),
        ]
        if reference:
            # The debt the forms and answers use; checked against the person's own open debts
            # whenever it is read, and kept at verification only when it is one of them.
            events.append(SlotSet("debt_reference", reference))
        if not tracker.get_slot("verified"):
            events += [SlotSet(slot, None) for slot in VERIFICATION_ANSWERS]
            events.append(SlotSet("code_sent", False))
        return events


class ReplyToReminder(CollectionsAction):
    """A bare yes, no or thanks right after a reminder, answered for what the reminder said."""

    action_name = "action_reply_to_reminder"

    async def act(self, speaker, backend, tracker, domain) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        kind = tracker.get_slot("reminder_kind") or "reminder"
        if kind in THANKS:
            speaker.say(WELCOME)
        elif kind in DUE_SOON:
            if intent != "deny":
                speaker.say(NOTED_DUE)
            elif kind == "promise_due":
                speaker.say(
                    CANT_KEEP_PROMISE,
                    buttons=[
                        speaker.button("Payment plan", "/request_payment_plan"),
                        *human_buttons(speaker),
                    ],
                )
            else:
                speaker.say(CANT_PAY_INSTALLMENT, buttons=human_buttons(speaker))
        elif intent == "affirm":
            speaker.say(OPTIONS, buttons=ways_forward(speaker))
        elif intent == "deny":
            speaker.say(NOT_NOW)
        else:
            speaker.say(WELCOME_OPTIONS, buttons=ways_forward(speaker))
        return []
