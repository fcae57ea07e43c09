"""Tickets handed out: a walk-in at the kiosk (or by the hall manager), a booked visitor's check-in,
and a ticket a kiosk printed from its offline range. Each is born in the core's
:func:`~cherga.server.core.tickets.issue` and stored before anybody prints it.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from cherga.broker_bridge.contract import TicketInfo
from cherga.server.core import booking
from cherga.server.core import tickets as core
from cherga.server.core.numbering import NumbersExhausted, booked_draw_order, office_day
from cherga.server.core.tickets import CheckIn, EventKind, Origin, Ticket, TicketStatus
from cherga.server.errors import Conflict, Invalid, NotFound
from cherga.server.region.mobile import home_office_of
from cherga.server.service.commands import Applied, CommandRunner
from cherga.server.siteconfig import WEEKDAYS
from cherga.server.store import TicketRecord, Tx

log = logging.getLogger("cherga.server.service")

#: How far ahead of the server's clock a kiosk's ``issued_at`` may be and still be believed.
OFFLINE_CLOCK_SKEW = dt.timedelta(minutes=2)


def _ticket_answer(stored: Mapping[str, Any]) -> TicketInfo:
    return TicketInfo.model_validate(stored["ticket"])


class Issuing(CommandRunner):
    """Extends :class:`CommandRunner` with the commands that hand out tickets."""

    def issue_ticket(self, *, command_id: str, source: str, service: str | None = None, bundle: str | None = None,
                     purpose: str = "consult", priority: str | None = None, language: str = "uk",
                     appointment_code: str | None = None, operator: str | None = None,
                     after_closing_ok: bool = False, asks_before_closing: bool = False) -> TicketInfo:
        """Issue a walk-in ticket (or check a booked visitor in when ``appointment_code`` is given).

        ``operator``: a hall manager issuing on a visitor's behalf (kept in the event log).

        With ``closing.warn_walk_ins`` and a client that ``asks_before_closing`` (the touchscreen kiosk),
        a walk-in the forecast says will not be seen
        before the service closes is refused with ``not_before_closing`` before anything is printed;
        its params name the closing time and the earliest free booking (``slot``: ISO time, or
        absent). The kiosk says so in the citizen's language and offers that booking; a citizen who
        still wants the ticket gets it with ``after_closing_ok=True``.
        """
        if appointment_code:
            return self.check_in(command_id=command_id, source=source, code=appointment_code, language=language)

        def operation(tx: Tx, now: dt.datetime) -> Applied[TicketInfo]:
            plan = self._plan(service, bundle)
            first = plan[0]
            svc = self.config.service(first)
            if purpose not in svc.purposes:
                raise Invalid("purpose_not_offered", f"service {first!r} offers {', '.join(svc.purposes)}, not {purpose!r}",
                              params={"service": first})
            self._check_category(priority)
            self._check_language(language)
            if svc.appointment_only:
                raise Conflict("appointment_only", f"service {first!r} is by appointment only", params={"service": first})
            if not self.config.service_open(first, now.astimezone(self.config.office.tz)):
                raise Conflict("service_closed", f"service {first!r} is closed now", params={"service": first})
            day = office_day(now, self.config.office.tz)
            if svc.daily_cap is not None and tx.count_issued(self.office, first, day) >= svc.daily_cap:
                raise Conflict("daily_cap_reached", f"no more tickets today for {first!r} (cap {svc.daily_cap})",
                               params={"service": first})
            number = self._draw(tx, first, day, "walk_in")
            ticket = self._new_ticket(service=first, purpose=purpose, number=number, day=day, issued_at=now,
                                      language=language, priority=priority)
            rec = TicketRecord(ticket, first, tuple(plan[1:]), 1, source)
            tx.insert_ticket(rec)
            info = self.info(rec, now)
            if (self.config.closing.warn_walk_ins and asks_before_closing and not after_closing_ok
                    and operator is None):
                self._check_seen_before_closing(tx, first, info, now)
            self._event(tx, EventKind.ISSUED, ticket, now, operator=operator, number=number,
                        label=ticket.label, origin=ticket.origin.value, purpose=purpose, priority=priority,
                        language=language, source=source, bundle=bundle, plan=list(plan[1:]) or None,
                        people_ahead=info.people_ahead, wait_min=info.wait_min)
            return Applied(info, {"ticket": info.model_dump(mode="json")}, lambda: self._issued(rec, now))

        return self._run_command(command_id, "issue", operation, _ticket_answer)

    def check_in(self, *, command_id: str, source: str, code: str, language: str = "uk") -> TicketInfo:
        """A booked visitor arrives: on time keeps the slot, too late becomes a walk-in."""
        self._check_language(language)

        def operation(tx: Tx, now: dt.datetime) -> Applied[TicketInfo]:
            appt = tx.appointment(self.office, code.upper())
            if appt is None:
                raise NotFound("unknown_appointment", f"no appointment with code {code!r}")
            if appt["status"] not in ("booked", "missed"):
                raise Conflict("already_checked_in", f"appointment {code!r} was already used")
            svc = self.config.service(appt["service"])
            verdict = core.check_in(slot=appt["slot"], now=now, early_s=self.config.appointments.early_s,
                                    late_grace_s=self.config.appointments.late_grace_s)
            home = home_office_of(appt["source"])
            if home is not None:
                # A booking copied from the home office onto a mobile office (issue 21): its slot is a
                # time at home, not here, so the visitor is taken whenever they come, as a walk-in;
                # the event names the home office and the region reports the double booking.
                verdict = CheckIn.LATE
            if verdict is CheckIn.TOO_EARLY:
                raise Conflict("too_early", f"check-in opens {self.config.appointments.early_s // 60} min before the slot",
                               params={"minutes": self.config.appointments.early_s // 60})
            on_time = verdict is CheckIn.ON_TIME
            day = office_day(now, self.config.office.tz)
            number = self._draw_booked(tx, svc.id, day, on_time)
            ticket = self._new_ticket(service=svc.id, purpose=svc.purposes[0], number=number, day=day, issued_at=now,
                                      language=language, origin=Origin.BOOKED if on_time else Origin.WALK_IN,
                                      appointment_at=appt["slot"] if on_time else None)
            rec = TicketRecord(ticket, svc.id, (), 1, source)
            tx.insert_ticket(rec)
            tx.mark_checked_in(appt["code"], ticket.id)
            info = self.info(rec, now)
            self._event(tx, EventKind.ISSUED, ticket, now, number=number, label=ticket.label,
                        origin=ticket.origin.value, source=source, appointment=appt["code"],
                        check_in=verdict.value, slot=appt["slot"].isoformat(), language=language,
                        booked_at=home)
            return Applied(info, {"ticket": info.model_dump(mode="json")}, lambda: self._issued(rec, now))

        return self._run_command(command_id, "check_in", operation, _ticket_answer)

    def take_offline_ticket(self, *, command_id: str, source: str, service: str, purpose: str,
                            priority: str | None, language: str, number: int, issued_at: dt.datetime,
                            replaces: str | None = None, own_range: tuple[int, int] | None = None) -> TicketInfo:
        """Take in a ticket a kiosk printed from its offline range; it queues from ``issued_at``.

        ``issued_at`` is the kiosk's clock, which may be wrong (a Pi without NTP): a time outside
        today's office day or more than :data:`OFFLINE_CLOCK_SKEW` ahead is not believed, and the
        ticket queues from now (the event log keeps the claimed time, ``clock_untrusted``). The
        citizen holds a printed ticket either way: refusing it, or queueing it on a day already
        closed, would mean that citizen is never called.

        ``own_range``: the slice of the offline range the sending kiosk was given (its
        ``NodeConfig.offline_range``); a number outside it is refused (``number_not_yours``), so a
        kiosk cannot take another kiosk's numbers.

        ``replaces`` is the command id of the kiosk's issue request that got no answer in time. The
        citizen holds the printed offline ticket, so only that one may stay: a ticket the late
        request already issued is cancelled (if still waiting), and a request that arrives later
        still answers with this ticket instead of issuing another.
        """
        self._check_service(service)
        self._check_language(language)
        rng = self.config.numbering.offline
        if not rng.first <= number <= rng.last:
            raise Invalid("number_out_of_range", f"offline numbers are {rng.first}..{rng.last}, not {number}")
        if own_range is not None and not own_range[0] <= number <= own_range[1]:
            raise Invalid("number_not_yours", f"this kiosk's offline numbers are {own_range[0]}..{own_range[1]}, "
                          f"not {number}")
        if issued_at.tzinfo is None:
            raise Invalid("naive_time", "issued_at needs a time zone")
        self._check_category(priority)

        def operation(tx: Tx, now: dt.datetime) -> Applied[TicketInfo]:
            tz = self.config.office.tz
            today = office_day(now, tz)
            day_start = dt.datetime.combine(today, dt.time(), tzinfo=tz)
            trusted = day_start <= issued_at <= now + OFFLINE_CLOCK_SKEW
            queued_from = min(issued_at, now) if trusted else now
            svc = self.config.service(service)
            day = office_day(queued_from, self.config.office.tz)
            if tx.number_taken(self.office, service, day, number):
                raise Conflict("number_taken", f"{svc.prefix}-{number:03d} already exists today")
            ticket = self._new_ticket(service=service, purpose=purpose, number=number, day=day,
                                      issued_at=queued_from, language=language, priority=priority,
                                      origin=Origin.OFFLINE)
            rec = TicketRecord(ticket, service, (), 1, source)
            tx.insert_ticket(rec)
            info = self.info(rec, now)
            self._event(tx, EventKind.ISSUED, ticket, now, number=number, label=ticket.label,
                        origin="offline", source=source, issued_at=queued_from.isoformat(), priority=priority,
                        claimed_issued_at=None if trusted else issued_at.isoformat(),
                        clock_untrusted=None if trusted else True)
            if not trusted:
                log.warning("offline ticket %s from %s claims issued_at %s (not today): queued from now",
                            ticket.label, source, issued_at.isoformat())
            result = {"ticket": info.model_dump(mode="json")}
            replaced = self._replace_online_twin(tx, replaces, ticket, result, now, source)

            def after_commit() -> None:
                self.stats["issued_offline"] += 1
                self._issued(rec, now, also=replaced)
                if replaced is None and replaces is not None:
                    self._remember(replaces, {"kind": "issue", **result})

            return Applied(info, result, after_commit)

        return self._run_command(command_id, "offline_ticket", operation, _ticket_answer)

    # --- helpers of the issuing commands ------------------------------------------------------------

    def _new_ticket(self, *, service: str, purpose: str, number: int, day: dt.date, issued_at: dt.datetime,
                    language: str, priority: str | None = None, origin: Origin = Origin.WALK_IN,
                    appointment_at: dt.datetime | None = None) -> Ticket:
        """A ticket of this office with a random id and status token (the token is the QR's secret)."""
        return core.issue(ticket_id=uuid.uuid4().hex, token=secrets.token_urlsafe(18), office=self.office,
                          service=service, prefix=self.config.service(service).prefix, purpose=purpose,
                          number=number, day=day, issued_at=issued_at, language=language, priority=priority,
                          origin=origin, appointment_at=appointment_at)

    def _issued(self, rec: TicketRecord, now: dt.datetime, *, also: TicketRecord | None = None) -> None:
        """After a new ticket's commit: the view, the counts and the listeners learn of it."""
        self._view.put(rec)
        if also is not None:
            self._view.put(also)
        self.stats["issued"] += 1
        self._notify(self._affected_counters([rec.ticket.service]), now, hall=True, call=None)

    def _plan(self, service: str | None, bundle: str | None) -> list[str]:
        if service and bundle:
            raise Invalid("service_or_bundle", "give a service or a bundle, not both")
        if bundle:
            for b in self.config.bundles:
                if b.id == bundle:
                    return list(b.services)
            raise NotFound("unknown_bundle", f"bundle {bundle!r} does not exist in office {self.office!r}")
        if not service:
            raise Invalid("service_required", "give a service (or a bundle)")
        self._check_service(service)
        return [service]

    def _draw(self, tx: Tx, service: str, day: dt.date, range_name: str) -> int:
        number_range = getattr(self.config.numbering, range_name)
        try:
            return tx.draw_number(self.office, service, day, range_name, number_range)
        except NumbersExhausted as exc:
            raise Conflict("numbers_exhausted", str(exc)) from None

    def _check_seen_before_closing(self, tx: Tx, service: str, info: TicketInfo, now: dt.datetime) -> None:
        """Refuse (``not_before_closing``) a walk-in whose forecast call is after the service closes;
        the transaction rolls back, so nothing is issued."""
        tz = self.config.office.tz
        local = now.astimezone(tz)
        closes = None
        for r in self.config.hours_of(service).days.get(WEEKDAYS[local.weekday()], []):
            start, end = r.on(local.date(), tz)
            if start <= local < end:
                closes = end
        if closes is None or info.wait_min is None or now + dt.timedelta(minutes=info.wait_min) < closes:
            return
        params: dict[str, str | int] = {"service": service, "closing": f"{closes:%H:%M}", "wait_min": info.wait_min}
        if (slot := self._earliest_slot(tx, service, now)) is not None:
            params["slot"] = slot.isoformat()
        raise Conflict("not_before_closing", f"the forecast for {service!r} ({info.wait_min} min) runs past closing "
                       f"at {closes:%H:%M}", params=params)

    def _earliest_slot(self, tx: Tx, service: str, now: dt.datetime) -> dt.datetime | None:
        """The earliest free booking slot of ``service`` within the booking horizon, or None."""
        appts, tz = self.config.appointments, self.config.office.tz
        capacity = self.config.booking_capacity(service)
        if capacity <= 0:
            return None
        today = office_day(now, tz)
        for k in range(appts.horizon_days + 1):
            grid = booking.day_grid(self.config.hours_of(service), today + dt.timedelta(days=k), tz, appts.slot_min)
            if not grid:
                continue
            taken = tx.appointments_taken(self.office, service, grid[0], grid[-1] + dt.timedelta(minutes=appts.slot_min))
            free = booking.free_slots(grid, taken, capacity, now)
            if free:
                return free[0].start
        return None

    def _draw_booked(self, tx: Tx, service: str, day: dt.date, on_time: bool) -> int:
        """A booked visitor's number: never refused while either range has one (:func:`booked_draw_order`)."""
        first, second = booked_draw_order(on_time)
        try:
            return tx.draw_number(self.office, service, day, first, getattr(self.config.numbering, first))
        except NumbersExhausted:
            log.warning("%s range of %s ran out: a booked visitor gets a number of the %s range", first, service, second)
        return self._draw(tx, service, day, second)

    def _replace_online_twin(self, tx: Tx, replaces: str | None, offline: Ticket, result: dict[str, Any],
                             now: dt.datetime, source: str) -> TicketRecord | None:
        """Keep one ticket per citizen when a kiosk fell back to offline numbering (see take_offline_ticket)."""
        if replaces is None:
            return None
        earlier = tx.command_result(self.office, replaces)
        if earlier is None:
            # The late issue request, when it comes, answers with the offline ticket.
            tx.record_command(self.office, replaces, {"kind": "issue", **result}, now)
            return None
        twin = self._view.get(str(earlier.get("ticket", {}).get("ticket_id")))
        if twin is None or twin.ticket.status is not TicketStatus.WAITING:
            log.warning("offline ticket %s replaces a request whose ticket is no longer waiting", offline.label)
            return None
        gone = self._write(tx, twin, self._apply(core.cancel, twin.ticket, now=now, reason="replaced_by_offline"))
        self._event(tx, EventKind.CANCELLED, twin.ticket, now, source=source, reason="replaced_by_offline",
                    replaced_by=offline.id)
        return gone
