"""The ticket and its state machine: the one place that says which transitions are legal.

::

    waiting ──call──▶ called ──start──▶ serving ──finish──▶ done
       ▲  │             │ ▲ recall        │
       │  └─cancel──▶ cancelled            │
       │                ├──no_show──▶ no_show
       └── postpone / transfer ◀───────────┘   (from called or serving)

A ``done`` ticket transferred with ``return_to`` goes back to waiting for its first counter.
A ticket is born in :func:`issue`. Every transition returns a new :class:`Ticket`; illegal ones raise
:class:`IllegalTransition`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any


class TicketStatus(enum.StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (TicketStatus.DONE, TicketStatus.NO_SHOW, TicketStatus.CANCELLED)


class Origin(enum.StrEnum):
    WALK_IN = "walk_in"
    BOOKED = "booked"
    OFFLINE = "offline"  # issued by a kiosk from its own range while the server was unreachable


class EventKind(enum.StrEnum):
    """What the append-only event log records; reports are built from these names."""

    ISSUED = "issued"
    CALLED = "called"
    RECALLED = "recalled"
    STARTED = "started"
    FINISHED = "finished"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    POSTPONED = "postponed"
    TRANSFERRED = "transferred"
    RETURNED = "returned"
    RATED = "rated"
    COUNTER_PAUSED = "counter_paused"
    COUNTER_RESUMED = "counter_resumed"
    OPERATOR_SIGNED_IN = "operator_signed_in"
    OPERATOR_SIGNED_OUT = "operator_signed_out"
    BACKOFFICE_ASSIGNED = "backoffice_assigned"
    RESERVED = "reserved"  # the hall manager sent a waiting ticket to one counter
    BOOKING_MISSED = "booking_missed"  # a booked visitor did not check in before the late grace ran out
    COUNTER_CLOSED = "counter_closed"  # the hall manager closed a counter (``operator``: who closed it)
    COUNTER_OPENED = "counter_opened"  # the hall manager opened it again


class IllegalTransition(Exception):
    """A ticket cannot make this move; ``reason`` is a short key, ``message`` says why."""

    def __init__(self, reason: str, message: str, params: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.params = params or {}  # ids a translated message names (``counter``)


@dataclasses.dataclass(frozen=True, slots=True)
class Ticket:
    """One visitor's place in the queue. Holds no personal data."""

    id: str
    office: str
    service: str
    purpose: str
    prefix: str
    number: int
    day: dt.date
    issued_at: dt.datetime
    token: str
    language: str = "uk"
    origin: Origin = Origin.WALK_IN
    priority: str | None = None
    appointment_at: dt.datetime | None = None
    status: TicketStatus = TicketStatus.WAITING
    # When the ticket (re-)entered the waiting list: the issue time, or a transfer/postpone time.
    queued_at: dt.datetime | None = None
    not_before: dt.datetime | None = None  # postponed: not called before this instant
    target_counter: str | None = None  # only this counter may call it (transfer to a counter)
    return_to: str | None = None  # after done, go back to this counter
    return_service: str | None = None
    counter: str | None = None  # the counter that called it last
    operator: str | None = None
    called_at: dt.datetime | None = None
    first_called_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    recalls: int = 0
    result: str | None = None
    reason: str | None = None  # why the scheduler chose it, or why it ended
    # Why the scheduler chose it, as facts (``scheduling.Decision.why``): pages word it in their reader's language.
    why: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False)

    @property
    def label(self) -> str:
        """The number as printed and shown: ``A-012``."""
        return f"{self.prefix}-{self.number:03d}"

    @property
    def waiting_since(self) -> dt.datetime:
        return self.queued_at or self.issued_at


def issue(*, ticket_id: str, token: str, office: str, service: str, prefix: str, purpose: str, number: int,
          day: dt.date, issued_at: dt.datetime, language: str = "uk", priority: str | None = None,
          origin: Origin = Origin.WALK_IN, appointment_at: dt.datetime | None = None) -> Ticket:
    """A new ticket, waiting from ``issued_at``: the one place a ticket is born (server and simulator).

    The caller draws ``number`` from its range and supplies ``ticket_id`` and ``token`` (the server
    random ones, the simulator reproducible ones), so this stays free of randomness and I/O. A booked
    ticket carries its slot, and only a booked one does.
    """
    if issued_at.tzinfo is None:
        raise ValueError("issued_at needs a time zone")
    if (origin is Origin.BOOKED) != (appointment_at is not None):
        raise ValueError("a booked ticket carries its appointment time, and only a booked one does")
    return Ticket(id=ticket_id, office=office, service=service, purpose=purpose, prefix=prefix, number=number,
                  day=day, issued_at=issued_at, token=token, language=language, origin=origin, priority=priority,
                  appointment_at=appointment_at)


def _require(ticket: Ticket, action: str, *allowed: TicketStatus) -> None:
    if ticket.status not in allowed:
        wanted = " or ".join(a.value for a in allowed)
        raise IllegalTransition(
            "illegal_transition",
            f"cannot {action} ticket {ticket.label}: it is {ticket.status.value}, must be {wanted}",
        )


def call(ticket: Ticket, *, counter: str, now: dt.datetime, operator: str | None = None,
         reason: str | None = None, why: Mapping[str, Any] | None = None) -> Ticket:
    _require(ticket, "call", TicketStatus.WAITING)
    if ticket.target_counter is not None and ticket.target_counter != counter:
        raise IllegalTransition("wrong_counter", f"ticket {ticket.label} is reserved for counter {ticket.target_counter}",
                                {"counter": ticket.target_counter})
    return dataclasses.replace(
        ticket, status=TicketStatus.CALLED, counter=counter, operator=operator, called_at=now,
        first_called_at=ticket.first_called_at or now, recalls=0, reason=reason, why=why, not_before=None,
    )


def recall(ticket: Ticket, *, now: dt.datetime) -> Ticket:
    _require(ticket, "recall", TicketStatus.CALLED)
    return dataclasses.replace(ticket, recalls=ticket.recalls + 1, called_at=now)


def start(ticket: Ticket, *, now: dt.datetime) -> Ticket:
    _require(ticket, "start serving", TicketStatus.CALLED)
    return dataclasses.replace(ticket, status=TicketStatus.SERVING, started_at=now)


def finish(ticket: Ticket, *, now: dt.datetime, result: str | None = None) -> Ticket:
    """Finish the visit; a ticket transferred with a return goes back to its first counter."""
    _require(ticket, "finish", TicketStatus.SERVING, TicketStatus.CALLED)
    started = ticket.started_at or now
    if ticket.return_to is not None:
        return dataclasses.replace(
            ticket, status=TicketStatus.WAITING, service=ticket.return_service or ticket.service,
            target_counter=ticket.return_to, return_to=None, return_service=None, queued_at=now,
            started_at=started, result=result, counter=None,
        )
    return dataclasses.replace(ticket, status=TicketStatus.DONE, started_at=started, finished_at=now, result=result)


def no_show(ticket: Ticket, *, now: dt.datetime) -> Ticket:
    _require(ticket, "mark as no-show", TicketStatus.CALLED)
    return dataclasses.replace(ticket, status=TicketStatus.NO_SHOW, finished_at=now, reason="no_show")


def cancel(ticket: Ticket, *, now: dt.datetime, reason: str = "cancelled") -> Ticket:
    _require(ticket, "cancel", TicketStatus.WAITING, TicketStatus.CALLED)
    return dataclasses.replace(ticket, status=TicketStatus.CANCELLED, finished_at=now, reason=reason)


def postpone(ticket: Ticket, *, now: dt.datetime, delay: dt.timedelta, keep_counter: bool = True) -> Ticket:
    """Send the visitor away for ``delay`` (e.g. to fetch a document); they keep their place."""
    _require(ticket, "postpone", TicketStatus.CALLED, TicketStatus.SERVING)
    if delay < dt.timedelta(0):
        raise IllegalTransition("bad_delay", "a postponement cannot be negative")
    return dataclasses.replace(
        ticket, status=TicketStatus.WAITING, not_before=now + delay,
        target_counter=ticket.counter if keep_counter else None, counter=None, started_at=None,
    )


def transfer(ticket: Ticket, *, now: dt.datetime, to_service: str | None = None, to_counter: str | None = None,
             return_after: bool = False) -> Ticket:
    """Redirect to another service and/or counter; with ``return_after`` it comes back here when done."""
    _require(ticket, "transfer", TicketStatus.CALLED, TicketStatus.SERVING)
    if to_service is None and to_counter is None:
        raise IllegalTransition("bad_transfer", "a transfer needs a service or a counter")
    return dataclasses.replace(
        ticket, status=TicketStatus.WAITING, service=to_service or ticket.service, target_counter=to_counter,
        return_to=ticket.counter if return_after else None,
        return_service=ticket.service if return_after else None,
        queued_at=now, counter=None, started_at=None, not_before=None,
    )


def reserve(ticket: Ticket, *, to_counter: str) -> Ticket:
    """Send a waiting ticket to one counter (the hall manager's choice); it keeps its place in time."""
    _require(ticket, "send", TicketStatus.WAITING)
    return dataclasses.replace(ticket, target_counter=to_counter)


def due_for_no_show(ticket: Ticket, *, now: dt.datetime, timeout_s: float) -> bool:
    """The timeout half of the no-show rule: called, and nobody came for ``timeout_s`` since the first call."""
    if ticket.status is not TicketStatus.CALLED or ticket.first_called_at is None:
        return False
    return (now - ticket.first_called_at).total_seconds() >= timeout_s


def recalls_exhausted(ticket: Ticket, *, max_recalls: int) -> bool:
    """The recall half: once a ticket was recalled ``max_recalls`` times, the next recall is a no-show."""
    return ticket.status is TicketStatus.CALLED and ticket.recalls >= max_recalls


class CheckIn(enum.StrEnum):
    ON_TIME = "on_time"  # keeps the booking: called around the slot
    LATE = "late"  # too late: becomes a walk-in
    TOO_EARLY = "too_early"


def check_in(*, slot: dt.datetime, now: dt.datetime, early_s: float, late_grace_s: float) -> CheckIn:
    """How a booked visitor arriving ``now`` for ``slot`` is treated."""
    if now < slot - dt.timedelta(seconds=early_s):
        return CheckIn.TOO_EARLY
    if now > slot + dt.timedelta(seconds=late_grace_s):
        return CheckIn.LATE
    return CheckIn.ON_TIME
