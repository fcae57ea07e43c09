"""What to send, and when (pure: the event, the contacts and the clock come in; nothing is read or written).

* :func:`messages_for_event` turns one event of the office's log into outbox entries for the
  ticket's contacts: ``called`` (and ``recalled``) to window N.
* :func:`booking_messages`: a booking's confirmation now, reminders the day before and an hour before.
* :func:`is_near`: "your turn is near" when at most N people are ahead or the forecast is at most M minutes.
* :func:`next_attempt`: exponential backoff between tries, capped; :func:`gave_up` after the
  configured time.

Every entry carries a ``dedup_key`` (contact, kind and the event that caused it): the outbox keeps
it unique, so reading the same event twice (a restart, two processes) never queues a second message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class ContactRef:
    id: int
    channel: str
    language: str


@dataclasses.dataclass(frozen=True, slots=True)
class Planned:
    """One message to queue: who, what (kind and the words' values), from when, under which unique key."""

    contact: ContactRef
    kind: str
    params: dict[str, Any]
    due_at: dt.datetime
    dedup_key: str
    ticket_id: str | None = None  # the ticket it is about (none for a booking not yet checked in)


def messages_for_event(event: Mapping[str, Any], contacts: Iterable[ContactRef]) -> list[Planned]:
    """The messages one log event causes: a call (or recall) tells each contact the window."""
    if event["kind"] not in ("called", "recalled"):
        return []
    data = event.get("data") or {}
    params = {"ticket": data.get("label", ""), "counter": data.get("counter_number") or event.get("counter") or ""}
    return [Planned(c, "called", params, event["at"], f"{c.id}:called:{event['seq']}", event.get("ticket_id"))
            for c in contacts]


def booking_messages(contact: ContactRef, *, code: str, slot: dt.datetime, service: str, tz: dt.tzinfo,
                     now: dt.datetime) -> list[Planned]:
    """Confirmation now; a reminder a day before and an hour before, each only if that is still ahead."""
    local = slot.astimezone(tz)
    params = {"service": service, "date": local.strftime("%d.%m.%Y"), "time": local.strftime("%H:%M"), "code": code}
    out = [Planned(contact, "booking_confirmed", params, now, f"{contact.id}:booking_confirmed:{code}")]
    for kind, before in (("reminder_day", dt.timedelta(days=1)), ("reminder_hour", dt.timedelta(hours=1))):
        due = slot - before
        if due > now:
            out.append(Planned(contact, kind, params, due, f"{contact.id}:{kind}:{code}"))
    return out


def is_near(people_ahead: int | None, wait_min: int | None, *, near_people: int, near_minutes: int) -> bool:
    if people_ahead is not None and people_ahead <= near_people:
        return True
    return wait_min is not None and wait_min <= near_minutes


def near_message(contact: ContactRef, *, ticket_id: str, label: str, people_ahead: int | None,
                 wait_min: int | None, now: dt.datetime) -> Planned:
    return Planned(contact, "near", {"ticket": label, "ahead": people_ahead if people_ahead is not None else 0,
                                     "wait": wait_min}, now, f"{contact.id}:near:{ticket_id}")


def documents_ready_message(contact: ContactRef, *, ticket_id: str, office: str, service: str,
                            now: dt.datetime) -> Planned:
    return Planned(contact, "documents_ready", {"office": office, "service": service}, now,
                   f"{contact.id}:documents_ready:{ticket_id}")


def next_attempt(attempts: int, now: dt.datetime, *, first_s: float, max_s: float) -> dt.datetime:
    """After the ``attempts``-th failed try: wait ``first_s``, then twice as long each time, at most ``max_s``."""
    delay = min(max_s, first_s * (2 ** max(0, attempts - 1)))
    return now + dt.timedelta(seconds=delay)


def gave_up(due_at: dt.datetime, now: dt.datetime, *, give_up_after_min: int) -> bool:
    """True once a message has been undeliverable for ``give_up_after_min`` since it fell due."""
    return now - due_at >= dt.timedelta(minutes=give_up_after_min)
