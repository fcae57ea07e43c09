"""Appointments: the free slots of a day, booking one, the day's list, cancelling, and the sweep that
marks booked visitors who did not come. (A booked visitor's arrival is a check-in: see issuing.)
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from cherga.server.core import booking
from cherga.server.core.numbering import office_day
from cherga.server.core.tickets import EventKind
from cherga.server.errors import Conflict, Invalid, NotFound
from cherga.server.region.mobile import home_office_of
from cherga.server.service.commands import Applied, CommandRunner
from cherga.server.store import Tx

log = logging.getLogger("cherga.server.service")

BOOKING_SWEEP_EVERY = dt.timedelta(seconds=30)  # how often the sweeper looks for booked visitors who did not come


def _make_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud over the phone
    raw = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def _code_answer(stored: Mapping[str, Any]) -> str:
    return str(stored["code"])


class Booking(CommandRunner):
    """Extends :class:`CommandRunner` with appointments."""

    def free_slots(self, service: str, day: dt.date) -> list[booking.Slot]:
        """The slots of ``day`` (office calendar) a visitor may still book for ``service``."""
        self._check_service(service)
        appts, tz, now = self.config.appointments, self.config.office.tz, self.now()
        today = office_day(now, tz)
        capacity = self.config.booking_capacity(service)
        if capacity <= 0 or not today <= day <= today + dt.timedelta(days=appts.horizon_days):
            return []
        grid = booking.day_grid(self.config.hours_of(service), day, tz, appts.slot_min)
        if not grid:
            return []
        taken = self.store.appointments_taken(self.office, service, grid[0],
                                              grid[-1] + dt.timedelta(minutes=appts.slot_min))
        return booking.free_slots(grid, taken, capacity, now)

    def book_appointment(self, *, service: str, slot: dt.datetime, source: str, command_id: str | None = None) -> str:
        """Book a free ``slot`` for ``service``; returns the code the visitor checks in with.

        The slot must be on the office's grid, in opening hours, within the booking horizon and not
        full. With ``command_id`` a resent request returns the first booking's code.
        """
        self._check_service(service)
        appts, tz = self.config.appointments, self.config.office.tz

        def operation(tx: Tx, now: dt.datetime) -> Applied[str]:
            taken = 0
            if slot.tzinfo is not None:
                taken = tx.appointments_taken(self.office, service, slot, slot + dt.timedelta(seconds=1)).get(slot, 0)
            try:
                booking.check_slot(slot, hours=self.config.hours_of(service), tz=tz,
                                   slot_min=appts.slot_min, capacity=self.config.booking_capacity(service),
                                   taken=taken, now=now, horizon_days=appts.horizon_days)
            except booking.SlotRefused as exc:
                error = Conflict if exc.reason in ("slot_full", "booking_closed") else Invalid
                raise error(exc.reason, exc.message) from None
            code = _make_code()
            # A place of the slot, not a count: two processes counting at once would both see the last
            # place free; the seat's unique index lets only one of them take it.
            held = tx.seats_held(self.office, service, slot)
            for seat in range(self.config.booking_capacity(service)):
                if seat not in held and tx.insert_appointment(code=code, office=self.office, service=service,
                                                              slot=slot, source=source, at=now, seat=seat):
                    return Applied(code, {"code": code}, lambda: None)
            raise Conflict("slot_full", f"the {slot.astimezone(tz):%H:%M} slot is fully booked")

        return self._run_command(command_id, "book_appointment", operation, _code_answer)

    def appointments_on(self, day: dt.date) -> list[dict[str, Any]]:
        """The day's bookings (office calendar) for the hall manager: slot, service, code and where each
        stands: ``booked`` (still to come), ``checked_in``, ``cancelled`` or ``missed`` (past the grace)."""
        tz = self.config.office.tz
        start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
        now = self.now()
        grace = dt.timedelta(seconds=self.config.appointments.late_grace_s)
        out = []
        for a in self.store.appointments_between(self.office, start, start + dt.timedelta(days=1)):
            status = a["status"]
            if status == "booked" and now > a["slot"] + grace:
                status = "missed"
            out.append({"code": a["code"], "service": a["service"], "slot": a["slot"].astimezone(tz),
                        "status": status, "ticket_id": a["ticket_id"]})
        return out

    def cancel_appointment(self, *, code: str, source: str) -> None:
        """The visitor cannot come: the slot is free for someone else."""
        with self._mutation(), self._op() as tx:
            appt = tx.appointment(self.office, code.upper())
            if appt is None:
                raise NotFound("unknown_appointment", f"no appointment with code {code!r}")
            if not tx.cancel_appointment(self.office, appt["code"]):
                raise Conflict("appointment_not_booked", f"appointment {code!r} is {appt['status']}")
        log.info("appointment %s cancelled by %s", appt["code"], source)

    def _sweep_bookings(self, now: dt.datetime) -> None:
        """Bookings whose late grace ran out with nobody checked in: marked missed and logged (reports count them)."""
        if self._bookings_swept_at is not None and now - self._bookings_swept_at < BOOKING_SWEEP_EVERY:
            return
        self._bookings_swept_at = now
        due = self.store.booked_before(self.office, now - dt.timedelta(seconds=self.config.appointments.late_grace_s))
        # A mobile office's copy of a home booking is not missed here: the home office sweeps its own.
        due = [a for a in due if home_office_of(a["source"]) is None]
        if not due:
            return  # the common case: no transaction, no fsync
        with self._op() as tx:
            for appt in due:
                if tx.mark_missed(appt["code"]):
                    self._event(tx, EventKind.BOOKING_MISSED, None, now, service=appt["service"],
                                code=appt["code"], slot=appt["slot"].isoformat())
        self._committed(tx)
        log.info("%d booked visitor(s) did not come", len(due))
